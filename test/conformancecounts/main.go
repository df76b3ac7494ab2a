// Command conformancecounts prints how many conformance cases kelb's test
// suites hold per operation of the APIs kelb server serves, read from the
// tests' source (nothing is run):
//
//   - ELBv2: the cases of test/server's conformance suite
//     (conformance_*_test.go: those sent by aws-sdk-go-v2, and the aws CLI
//     and boto3 cases, each run by both clients), for every operation of the
//     ELBv2 model; an operation with no aws-sdk-go-v2 case is listed, and
//     the command exits 1 (TestConformance fails then too).
//   - EC2 and ACM: for every operation kelb server's handlers serve
//     (internal/ec2api, internal/acmapi), the calls of that operation in
//     test/server's tests, each against a real kelb server.
//
// Run it from the repository root: make conformance-counts.
package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const (
	modelPath = "internal/elbapi/model/elbv2-2015-12-01.service.json"
	testDir   = "test/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "conformancecounts:", err)
		os.Exit(2)
	}
}

func run() error {
	ops, err := modelOperations(modelPath)
	if err != nil {
		return err
	}
	confFiles, err := filepath.Glob(filepath.Join(testDir, "conformance_*_test.go"))
	if err != nil {
		return err
	}
	sdk, clients := map[string]int{}, map[string]int{}
	for _, file := range confFiles {
		if err := leadingOpLiterals(file, ops, sdk, clients); err != nil {
			return err
		}
	}
	fmt.Println("ELBv2 (test/server TestConformance: aws-sdk-go-v2 cases; aws CLI and boto3 cases, each run by both clients)")
	fmt.Printf("  %-40s %5s %11s\n", "operation", "sdk", "cli+boto3")
	var missing []string
	total, totalCLI := 0, 0
	for _, op := range ops {
		fmt.Printf("  %-40s %5d %11d\n", op, sdk[op], clients[op])
		total += sdk[op]
		totalCLI += clients[op]
		if sdk[op] == 0 {
			missing = append(missing, op)
		}
	}
	fmt.Printf("  %-40s %5d %11d\n", "total", total, totalCLI)

	files, err := filepath.Glob(filepath.Join(testDir, "*_test.go"))
	if err != nil {
		return err
	}
	for _, api := range []struct{ name, handler string }{
		{"EC2", "internal/ec2api/handler.go"},
		{"ACM", "internal/acmapi/handler.go"},
	} {
		served, err := servedOperations(api.handler)
		if err != nil {
			return err
		}
		calls, err := methodCalls(files, served)
		if err != nil {
			return err
		}
		fmt.Printf("\n%s (operations kelb server serves; calls in test/server's tests)\n", api.name)
		n := 0
		for _, op := range served {
			fmt.Printf("  %-40s %5d\n", op, calls[op])
			n += calls[op]
			if calls[op] == 0 {
				missing = append(missing, api.name+" "+op)
			}
		}
		fmt.Printf("  %-40s %5d\n", "total", n)
	}
	if len(missing) > 0 {
		fmt.Printf("\noperations without a case: %s\n", strings.Join(missing, ", "))
		os.Exit(1)
	}
	return nil
}

// modelOperations are the operation names of the ELBv2 model, sorted.
func modelOperations(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m struct {
		Operations map[string]json.RawMessage `json:"operations"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []string
	for op := range m.Operations {
		out = append(out, op)
	}
	sort.Strings(out)
	return out, nil
}

// leadingOpLiterals counts the cases of file: composite literals whose
// first element is a string literal naming one of ops. The suite's cases
// are {"Operation", "name", "code", func...} (into sdk); its aws CLI and
// boto3 cases {"Operation", []string{...}, map...{...}, "code", check}
// (into clients).
func leadingOpLiterals(file string, ops []string, sdk, clients map[string]int) error {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, op := range ops {
		known[op] = true
	}
	ast.Inspect(f, func(n ast.Node) bool {
		cl, ok := n.(*ast.CompositeLit)
		if !ok || len(cl.Elts) < 4 {
			return true
		}
		op, ok := stringLit(cl.Elts[0])
		if !ok || !known[op] {
			return true
		}
		if _, ok := stringLit(cl.Elts[1]); ok {
			sdk[op]++
		} else if _, ok := cl.Elts[1].(*ast.CompositeLit); ok {
			clients[op]++
		}
		return true
	})
	return nil
}

// servedOperations are the keys of the operation map literal in a
// handler's source: string keys whose values are handler methods.
func servedOperations(file string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		return nil, err
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		op, ok := stringLit(kv.Key)
		if !ok || op == "" || op[0] < 'A' || op[0] > 'Z' {
			return true
		}
		switch v := kv.Value.(type) {
		case *ast.SelectorExpr:
			out = append(out, op)
		case *ast.CallExpr:
			if _, ok := v.Fun.(*ast.SelectorExpr); ok {
				out = append(out, op)
			}
		}
		return true
	})
	sort.Strings(out)
	return out, nil
}

// methodCalls counts the calls x.Op(...) of the operations in files.
func methodCalls(files []string, ops []string) (map[string]int, error) {
	known := map[string]bool{}
	for _, op := range ops {
		known[op] = true
	}
	counts := map[string]int{}
	fset := token.NewFileSet()
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && known[sel.Sel.Name] {
				counts[sel.Sel.Name]++
			}
			return true
		})
	}
	return counts, nil
}

func stringLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}
