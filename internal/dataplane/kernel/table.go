package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// batchBytes bounds the map elements one transaction carries, below the
// netlink socket's send buffer (writeBuffer).
const (
	batchBytes  = 2 << 20
	elementSize = 40 // bytes of one map element in a netlink message, about
	writeBuffer = 4 << 20
)

// ctTimeoutMu serialises marshalling of ct timeout objects: google/nftables
// merges a policy into a package-level default map while it marshals one.
var ctTimeoutMu sync.Mutex

// table programs kelb's nftables table.
type table struct {
	conn *nftables.Conn
	t    *nftables.Table
	// loaded is what each map holds, by map name, as last written by this
	// process; a map is rewritten only when its slots change.
	loaded map[string][]netip.AddrPort
}

func openTable(name string) (*table, error) {
	c, err := nftables.New(nftables.AsLasting(), nftables.WithSockOptions(func(nc *netlink.Conn) error {
		return nc.SetWriteBuffer(writeBuffer)
	}))
	if err != nil {
		return nil, fmt.Errorf("open nftables netlink connection: %w", err)
	}
	return &table{conn: c, t: &nftables.Table{Name: name, Family: nftables.TableFamilyIPv4}, loaded: map[string][]netip.AddrPort{}}, nil
}

func (t *table) close() { _ = t.conn.CloseLasting() }

// existing lists the chains, sets and objects the table holds now.
func (t *table) existing() (chains, sets, objs map[string]bool, err error) {
	chains, sets, objs = map[string]bool{}, map[string]bool{}, map[string]bool{}
	tables, err := t.conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list nftables tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(x *nftables.Table) bool { return x.Name == t.t.Name }) {
		return chains, sets, objs, nil
	}
	cs, err := t.conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list chains: %w", err)
	}
	for _, c := range cs {
		if c.Table.Name == t.t.Name {
			chains[c.Name] = true
		}
	}
	ss, err := t.conn.GetSets(t.t)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list sets: %w", err)
	}
	for _, s := range ss {
		sets[s.Name] = true
	}
	os, err := t.namedObjects()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list objects: %w", err)
	}
	for _, o := range os {
		if n, ok := o.(*nftables.NamedObj); ok {
			objs[objKey(n.Type, n.Name)] = true
		}
	}
	return chains, sets, objs, nil
}

func objKey(t nftables.ObjType, name string) string { return fmt.Sprint(t, "/", name) }

func (t *table) mapOf(name string) *nftables.Set {
	return &nftables.Set{Table: t.t, Name: name, IsMap: true, KeyType: nftables.TypeInteger,
		KeyByteOrder: binaryutil.NativeEndian, DataType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)}
}

func (t *table) hairpinSet() *nftables.Set {
	return &nftables.Set{Table: t.t, Name: setHairpin, Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr)}
}

// program makes the table hold d: every chain is flushed and rewritten, and
// maps whose slots changed are rewritten, in one transaction; maps beyond
// what one netlink message carries follow, each in a transaction of its own
// (a new listener's map is empty for that moment, and its first flows pass
// unforwarded).
func (t *table) program(d Description) error {
	chains, sets, objs, err := t.existing()
	if err != nil {
		return err
	}
	c := t.conn
	c.AddTable(t.t)
	want := Chains(d)
	wantChains := map[string]bool{}
	for _, ch := range want {
		wantChains[ch.Name] = true
	}
	// Flush every existing chain first, so that no rule refers to a chain,
	// set or object removed below.
	for name := range chains {
		c.FlushChain(&nftables.Chain{Name: name, Table: t.t})
	}
	for name := range chains {
		if !wantChains[name] {
			c.DelChain(&nftables.Chain{Name: name, Table: t.t})
		}
	}
	// Objects: a counter and a reset counter per service, a ct timeout per
	// timeout in use.
	wantObjs := map[string]nftables.Obj{}
	for _, s := range d.Services {
		for _, n := range []string{s.Name, resetCounter(s)} {
			wantObjs[objKey(nftables.ObjTypeCounter, n)] = &nftables.NamedObj{Table: t.t, Name: n, Type: nftables.ObjTypeCounter, Obj: &expr.Counter{}}
		}
	}
	addTimeout := func(proto uint8, secs uint32) {
		policy := expr.CtStatePolicyTimeout{expr.CtStateUDPUNREPLIED: secs, expr.CtStateUDPREPLIED: secs}
		if proto == ipProtoTCP {
			policy = tcpPolicy(secs)
		}
		n := TimeoutName(proto, secs)
		wantObjs[objKey(nftables.ObjTypeCtTimeout, n)] = &nftables.NamedObj{Table: t.t, Name: n, Type: nftables.ObjTypeCtTimeout,
			Obj: &expr.CtTimeout{L3Proto: unix.NFPROTO_IPV4, L4Proto: proto, Policy: policy}}
	}
	for _, secs := range d.TCPTimeouts {
		addTimeout(ipProtoTCP, secs)
	}
	if d.UDPTimeout > 0 {
		addTimeout(ipProtoUDP, d.UDPTimeout)
	}
	for key, o := range wantObjs {
		if !objs[key] {
			c.AddObj(o)
		}
	}
	// Sets: one Maglev map per service with targets, and the hairpin set.
	wantSets := map[string]bool{}
	var later []Service
	budget := batchBytes
	for _, s := range d.Services {
		if len(s.Slots) == 0 {
			continue
		}
		wantSets[s.Name] = true
		m := t.mapOf(s.Name)
		if sets[s.Name] && sameSlots(t.loaded[s.Name], s) {
			continue
		}
		if budget < len(s.Slots)*elementSize {
			if !sets[s.Name] {
				if err := c.AddSet(m, nil); err != nil {
					return fmt.Errorf("map %s: %w", s.Name, err)
				}
			}
			later = append(later, s)
			continue
		}
		budget -= len(s.Slots) * elementSize
		if sets[s.Name] {
			c.FlushSet(m)
		} else if err := c.AddSet(m, nil); err != nil {
			return fmt.Errorf("map %s: %w", s.Name, err)
		}
		if err := addElements(c, m, mapElements(s)); err != nil {
			return fmt.Errorf("map %s: %w", s.Name, err)
		}
	}
	if len(d.Hairpin) > 0 {
		wantSets[setHairpin] = true
		h := t.hairpinSet()
		if sets[setHairpin] {
			c.FlushSet(h)
		} else if err := c.AddSet(h, nil); err != nil {
			return fmt.Errorf("hairpin set: %w", err)
		}
		if err := addElements(c, h, hairpinElements(d)); err != nil {
			return fmt.Errorf("hairpin set: %w", err)
		}
	}
	for name := range sets {
		if !wantSets[name] {
			c.DelSet(&nftables.Set{Table: t.t, Name: name})
		}
	}
	for key := range objs {
		if _, ok := wantObjs[key]; !ok {
			typ, name := splitObjKey(key)
			c.DeleteObject(&nftables.NamedObj{Table: t.t, Name: name, Type: typ})
		}
	}
	for _, ch := range want {
		nc := &nftables.Chain{Name: ch.Name, Table: t.t}
		if ch.Hook != nil {
			nc.Hooknum, nc.Priority, nc.Type = ch.Hook, ch.Priority, nftables.ChainTypeNAT
			accept := nftables.ChainPolicyAccept
			nc.Policy = &accept
		}
		if !chains[ch.Name] {
			c.AddChain(nc)
		}
	}
	for _, ch := range want {
		nc := &nftables.Chain{Name: ch.Name, Table: t.t}
		for _, r := range ch.Rules {
			c.AddRule(&nftables.Rule{Table: t.t, Chain: nc, Exprs: r})
		}
	}
	if err := t.flush(); err != nil {
		clear(t.loaded) // unknown: rewrite every map next time
		return fmt.Errorf("nftables transaction: %w", err)
	}
	for _, s := range d.Services {
		if !slices.ContainsFunc(later, func(l Service) bool { return l.Name == s.Name }) {
			t.loaded[s.Name] = s.Slots
		}
	}
	for name := range t.loaded {
		if !wantSets[name] {
			delete(t.loaded, name)
		}
	}
	var errs []error
	for len(later) > 0 {
		budget, n := batchBytes, 0
		for n < len(later) && (n == 0 || budget >= len(later[n].Slots)*elementSize) {
			budget -= len(later[n].Slots) * elementSize
			m := t.mapOf(later[n].Name)
			c.FlushSet(m)
			if err := addElements(c, m, mapElements(later[n])); err != nil {
				return fmt.Errorf("map %s: %w", later[n].Name, err)
			}
			n++
		}
		if err := t.flush(); err != nil {
			errs = append(errs, fmt.Errorf("nftables map transaction: %w", err))
		} else {
			for _, s := range later[:n] {
				t.loaded[s.Name] = s.Slots
			}
		}
		later = later[n:]
	}
	return errors.Join(errs...)
}

// elementsPerMessage bounds the elements of one netlink message: their
// nested attribute's length is 16 bits, and google/nftables does not split.
const elementsPerMessage = 1024

// addElements adds els to set s in messages of elementsPerMessage.
func addElements(c *nftables.Conn, s *nftables.Set, els []nftables.SetElement) error {
	for len(els) > 0 {
		n := min(len(els), elementsPerMessage)
		if err := c.SetAddElements(s, els[:n]); err != nil {
			return err
		}
		els = els[n:]
	}
	return nil
}

// namedObjects lists the table's objects. google/nftables parses ct
// timeout objects into its package-level default policy, hence the lock.
func (t *table) namedObjects() ([]nftables.Obj, error) {
	ctTimeoutMu.Lock()
	defer ctTimeoutMu.Unlock()
	return t.conn.GetNamedObjects(t.t)
}

func (t *table) flush() error {
	ctTimeoutMu.Lock()
	defer ctTimeoutMu.Unlock()
	return t.conn.Flush()
}

// remove deletes the table; a missing table is not an error.
func (t *table) remove() error {
	t.conn.DelTable(t.t)
	clear(t.loaded)
	if err := t.flush(); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete nftables table %s: %w", t.t.Name, err)
	}
	return nil
}

func splitObjKey(key string) (nftables.ObjType, string) {
	var typ nftables.ObjType
	var name string
	_, _ = fmt.Sscanf(key, "%d/", &typ)
	for i := range key {
		if key[i] == '/' {
			name = key[i+1:]
			break
		}
	}
	return typ, name
}

// sameSlots reports whether a map loaded with prev holds s's slots.
func sameSlots(prev []netip.AddrPort, s Service) bool {
	return prev != nil && slices.Equal(prev, s.Slots)
}

// tcpPolicy is conntrack's TCP timeouts with established flows ending after
// secs without a packet: tcp.idle_timeout.seconds. The other states keep
// the kernel's defaults.
func tcpPolicy(secs uint32) expr.CtStatePolicyTimeout {
	p := expr.CtStatePolicyTimeout{
		expr.CtStateTCPSYNSENT:     120,
		expr.CtStateTCPSYNRECV:     60,
		expr.CtStateTCPESTABLISHED: secs,
		expr.CtStateTCPFINWAIT:     120,
		expr.CtStateTCPCLOSEWAIT:   60,
		expr.CtStateTCPLASTACK:     30,
		expr.CtStateTCPTIMEWAIT:    120,
		expr.CtStateTCPCLOSE:       10,
		expr.CtStateTCPSYNSENT2:    120,
		expr.CtStateTCPRETRANS:     300,
		expr.CtStateTCPUNACK:       300,
	}
	return p
}
