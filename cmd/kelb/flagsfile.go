package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// addFlagsFile gives cmd a --flags-file flag: further flags read from a file
// (a Kubernetes ConfigMap, a host's /etc) before cmd runs.
func addFlagsFile(cmd *cobra.Command) {
	var path string
	cmd.Flags().StringVar(&path, "flags-file", "", "file of further flags, one per line (--name=value; # starts a comment); a flag given on the command line wins over the file's, a repeatable flag takes the values of both")
	pre := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if path != "" {
			if err := applyFlagsFile(cmd.Flags(), path); err != nil {
				return fmt.Errorf("--flags-file: %w", err)
			}
		}
		if pre != nil {
			return pre(cmd, args)
		}
		return nil
	}
}

// applyFlagsFile sets the flags of fs that the file at path gives: one flag
// a line, as --name=value, --name value or --name (a boolean); blank lines
// and lines starting with # are skipped. Flags already set (on the command
// line) keep their value, except repeatable ones, which the file's values
// are added to. An unknown flag, or one without its value, is an error
// naming the line; nothing is set then.
func applyFlagsFile(fs *pflag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	type setting struct{ name, value string }
	var settings []setting
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		where := fmt.Sprintf("%s:%d", path, i+1)
		if !strings.HasPrefix(line, "--") {
			return fmt.Errorf("%s: %q is not a flag: want --name=value", where, line)
		}
		name, value, ok := line[2:], "", false
		if i := strings.IndexAny(name, "= \t"); i >= 0 {
			name, value, ok = name[:i], strings.TrimLeft(name[i+1:], " \t"), true
		}
		f := fs.Lookup(name)
		switch {
		case f == nil:
			return fmt.Errorf("%s: unknown flag --%s", where, name)
		case name == "flags-file":
			return fmt.Errorf("%s: --flags-file cannot be given in a flags file", where)
		case !ok && f.NoOptDefVal == "":
			return fmt.Errorf("%s: flag --%s needs a value", where, name)
		case !ok:
			value = f.NoOptDefVal
		}
		settings = append(settings, setting{name, value})
	}
	fromCommandLine := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { fromCommandLine[f.Name] = true })
	for _, s := range settings {
		if _, repeatable := fs.Lookup(s.name).Value.(pflag.SliceValue); fromCommandLine[s.name] && !repeatable {
			continue
		}
		if err := fs.Set(s.name, s.value); err != nil {
			return fmt.Errorf("%s: --%s: %w", path, s.name, err)
		}
	}
	return nil
}
