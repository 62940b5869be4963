package asl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// The conformance test replays executions recorded on real AWS (testdata/conformance, see its README): each
// case runs its definition on its input, every Task taking the outcome the recording shows (HistoryResolver),
// and the run must match the recording: status, output or error and cause, and the history event by event
// (types, previousEventId structure, state inputs and outputs, task parameters), with the README's
// normalisations. Cases that need a feature this engine does not have are skipped with the feature named.
//
// testdata/conformance-passing.txt lists the cases that pass; a listed case that fails fails the test.
// go test -run TestConformance -update-passing (or CPWARDEN_UPDATE_PASSING=1) adds the cases that pass now; the
// list only grows. Run with -v to see the counts and the skip reasons.
// CPWARDEN_CONFORMANCE=/path/file.jsonl runs another corpus in the same format; then failures are reported, not
// fatal, unless the case is in the list.

var updatePassing = flag.Bool("update-passing", false, "add the conformance cases that pass to testdata/conformance-passing.txt (or set CPWARDEN_UPDATE_PASSING=1)")

const passingList = "testdata/conformance-passing.txt"

type confCase struct {
	ID            string            `json:"id"`
	Area          string            `json:"area"`
	Definition    json.RawMessage   `json:"definition"`
	Input         json.RawMessage   `json:"input"`
	Events        []json.RawMessage `json:"events"`
	Status        string            `json:"status"`
	Output        json.RawMessage   `json:"output"`
	Error         *string           `json:"error"`
	Cause         json.RawMessage   `json:"cause"`
	QueryLanguage string            `json:"query_language"`
	Flags         []string          `json:"flags"`
	Source        struct {
		TestInput json.RawMessage `json:"test_input"`
	} `json:"source"`
}

func (c *confCase) hasFlag(f string) bool {
	for _, x := range c.Flags {
		if x == f {
			return true
		}
	}
	return false
}

// corpusFile is the recorded corpus kept in the repository (testdata/conformance/README.md says where it comes
// from and under which licence).
const corpusFile = "testdata/conformance/aws-recorded.jsonl"

// corpusPath finds the corpus: $CPWARDEN_CONFORMANCE (reported as custom: a user's own corpus, whose cases the
// passing list does not know), else the repository's own.
func corpusPath(t *testing.T) (path string, custom bool) {
	if p := os.Getenv("CPWARDEN_CONFORMANCE"); p != "" {
		return p, true
	}
	if _, err := os.Stat(corpusFile); err != nil {
		t.Fatalf("conformance corpus %s is missing from the repository: %v", corpusFile, err)
	}
	return corpusFile, false
}

func loadCases(t *testing.T, path string) []*confCase {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []*confCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		c := &confCase{}
		if err := json.Unmarshal(sc.Bytes(), c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func readPassing(t *testing.T) map[string]bool {
	out := map[string]bool{}
	b, err := os.ReadFile(passingList)
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out[line] = true
		}
	}
	return out
}

// skipReason names the feature a case needs that the engine does not have, or "".
func skipReason(c *confCase) string {
	switch {
	case c.QueryLanguage == "JSONata":
		return "JSONata query language"
	case c.QueryLanguage == "mixed":
		return "JSONata query language (mixed definition)"
	case c.hasFlag("map_item_reader"):
		return "Distributed Map ItemReader (its data is not in the history)"
	case c.hasFlag("map_result_writer"):
		return "Distributed Map ResultWriter"
	case c.hasFlag("distributed_map"):
		return "Distributed Map (child executions are not in the history)"
	case c.hasFlag("input_timestamp_normalised") && (len(c.Source.TestInput) == 0 || string(c.Source.TestInput) == "null"):
		return "input not recorded (its timestamp was normalised away)"
	}
	return ""
}

func TestConformance(t *testing.T) {
	path, override := corpusPath(t)
	cases := loadCases(t, path)
	listed := readPassing(t)
	var passed []string
	var failedListed, failedOther []string
	skipped := map[string]int{}
	for _, c := range cases {
		if reason := skipReason(c); reason != "" {
			skipped[reason]++
			continue
		}
		err := runConformanceCase(c)
		if err == nil {
			passed = append(passed, c.ID)
			continue
		}
		if listed[c.ID] {
			failedListed = append(failedListed, c.ID)
			t.Errorf("%s (in %s): %v", c.ID, passingList, err)
		} else {
			failedOther = append(failedOther, c.ID)
			t.Logf("FAIL %s: %v", c.ID, err)
		}
	}
	total := 0
	reasons := make([]string, 0, len(skipped))
	for r, n := range skipped {
		reasons = append(reasons, r)
		total += n
	}
	sort.Strings(reasons)
	t.Logf("conformance (%s): %d cases: %d passed, %d skipped, %d failed", path, len(cases), len(passed), total, len(failedListed)+len(failedOther))
	for _, r := range reasons {
		t.Logf("  skipped %3d: %s", skipped[r], r)
	}
	if len(failedOther) > 0 && !override {
		t.Logf("  %d failing cases are not in %s", len(failedOther), passingList)
	}
	if *updatePassing || os.Getenv("CPWARDEN_UPDATE_PASSING") == "1" {
		for _, id := range passed {
			listed[id] = true
		}
		ids := make([]string, 0, len(listed))
		for id := range listed {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		if err := os.WriteFile(passingList, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d ids to %s", len(ids), passingList)
	}
}

// runConformanceCase runs one recorded execution and compares.
func runConformanceCase(c *confCase) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	sm, err := Parse(c.Definition)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	recorded, err := recordedEvents(c.Events)
	if err != nil {
		return fmt.Errorf("recorded events: %w", err)
	}
	eng, err := NewEngine(sm, Options{
		Resolver:  NewHistoryResolver(recorded),
		Seed:      1,
		StartTime: time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC),
	})
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	input := c.Input
	if len(c.Source.TestInput) > 0 && string(c.Source.TestInput) != "null" {
		input = c.Source.TestInput
	}
	input = recordedInput(input)
	exec, err := eng.Run(context.Background(), input)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if exec.Status != c.Status {
		return fmt.Errorf("status %s (%s: %s), recorded %s (%s: %s)", exec.Status, exec.Error, exec.Cause, c.Status, deref(c.Error), string(c.Cause))
	}
	switch c.Status {
	case StatusSucceeded:
		want, err := value.Parse(c.Output)
		if err != nil {
			return err
		}
		got, err := value.Parse(exec.Output)
		if err != nil {
			return err
		}
		if msg := match(want, normaliseTop(got), "output"); msg != "" {
			return fmt.Errorf("output differs: %s\n got  %s\n want %s", msg, exec.Output, c.Output)
		}
	case StatusFailed:
		if deref(c.Error) != exec.Error {
			return fmt.Errorf("error %q (cause %q), recorded %q", exec.Error, exec.Cause, deref(c.Error))
		}
		want, _ := value.Parse(c.Cause)
		if want == nil {
			want = ""
		}
		if msg := match(want, normaliseTop(exec.Cause), "cause"); msg != "" {
			return fmt.Errorf("cause differs: %s\n got  %q\n want %s", msg, exec.Cause, string(c.Cause))
		}
	}
	return compareHistories(c, exec.Events())
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// recordedInput returns the execution input: the corpus stores JSON-string inputs that held an object as the
// object, and others as their JSON text.
func recordedInput(raw json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if v, err := value.ParseString(s); err == nil {
			return value.Marshal(v)
		}
	}
	return raw
}

// recordedEvents turns the corpus's normalised events back into API events: data fields that were parsed back
// into JSON text, lost ids ("[0]") into 0, the "timestamp" placeholder into the zero time.
func recordedEvents(raws []json.RawMessage) ([]HistoryEvent, error) {
	out := make([]HistoryEvent, 0, len(raws))
	for _, raw := range raws {
		v, err := value.Parse(raw)
		if err != nil {
			return nil, err
		}
		obj, ok := v.(*value.Object)
		if !ok {
			return nil, fmt.Errorf("event is %s", value.Kind(v))
		}
		ev := value.NewObject(obj.Len())
		for i := 0; i < obj.Len(); i++ {
			k, x := obj.Key(i), obj.At(i)
			switch {
			case k == "timestamp":
				continue
			case k == "id" || k == "previousEventId":
				if _, isNum := x.(value.Number); !isNum {
					x = value.Number("0")
				}
			case strings.HasSuffix(k, "EventDetails"):
				if d, ok := x.(*value.Object); ok {
					nd := value.NewObject(d.Len())
					for j := 0; j < d.Len(); j++ {
						dk, dv := d.Key(j), d.At(j)
						switch dk {
						case "assignedVariables":
							if vars, ok := dv.(*value.Object); ok {
								nv := value.NewObject(vars.Len())
								for a := 0; a < vars.Len(); a++ {
									av := vars.At(a)
									if _, isStr := av.(string); !isStr {
										av = value.String(av)
									}
									nv.Set(vars.Key(a), av)
								}
								dv = nv
							}
						case "input", "output", "parameters", "cause":
							// Stored parsed when it was an object: back to the JSON text the API carries.
							if _, isStr := dv.(string); !isStr {
								dv = value.String(dv)
							}
						}
						nd.Set(dk, dv)
					}
					x = nd
				}
			}
			ev.Set(k, x)
		}
		var he HistoryEvent
		if err := json.Unmarshal(value.Marshal(ev), &he); err != nil {
			return nil, fmt.Errorf("%s: %w", value.String(ev), err)
		}
		out = append(out, he)
	}
	return out, nil
}

// normaliseTop applies the corpus's normalisation to one of our values: a JSON string holding an object is
// the object; other JSON text stays text.
func normaliseTop(v any) any {
	if s, ok := v.(string); ok {
		if p, err := value.ParseString(s); err == nil {
			if _, isObj := p.(*value.Object); isObj {
				return p
			}
		}
	}
	return v
}

// placeholders the recordings put in place of generated values: any value of ours matches them.
var opaque = map[string]bool{
	"date": true, "timestamp": true, "snf_role_arn": true, "generated-uuid": true, "RandomNumberGenerated": true,
	"start-date": true, "stop-date": true, "X-Amzn-Trace-Id": true, "a_task_token": true,
}

var placeholderRE = regexp.MustCompile(`<[^<>]*>|111111111111|<[^<>]*<[^<>]*>[^<>]*>`)

// match compares a recorded value with ours, allowing for the corpus's placeholders and normalisation;
// it returns "" or where they differ.
func match(want, got any, at string) string {
	switch w := want.(type) {
	case string:
		if opaque[w] {
			return ""
		}
		g, isStr := got.(string)
		if !isStr {
			if strings.Contains(w, "<") {
				return ""
			}
			// A JSON text on one side, the parsed value on the other.
			if pw, err := value.ParseString(w); err == nil {
				return match(pw, got, at)
			}
			return fmt.Sprintf("%s: %s, recorded %q", at, value.String(got), w)
		}
		if w == g || placeholderMatch(w, g) {
			return ""
		}
		pw, err1 := value.ParseString(w)
		pg, err2 := value.ParseString(g)
		if err1 == nil && err2 == nil {
			switch pw.(type) {
			case *value.Object, []any, string:
				return match(pw, pg, at)
			}
		}
		return fmt.Sprintf("%s: %q, recorded %q", at, g, w)
	case *value.Object:
		g, ok := got.(*value.Object)
		if !ok {
			if s, isStr := got.(string); isStr {
				if pg, err := value.ParseString(s); err == nil {
					return match(want, pg, at)
				}
			}
			return fmt.Sprintf("%s: %s, recorded an object", at, value.String(got))
		}
		for i := 0; i < w.Len(); i++ {
			gv, found := g.Get(w.Key(i))
			if !found {
				return fmt.Sprintf("%s.%s missing", at, w.Key(i))
			}
			if msg := match(w.At(i), gv, at+"."+w.Key(i)); msg != "" {
				return msg
			}
		}
		for i := 0; i < g.Len(); i++ {
			// Step Functions added Execution.RedriveCount to the context object in November 2023; older
			// recordings lack it.
			if !w.Has(g.Key(i)) && !(g.Key(i) == "RedriveCount" && w.Has("RoleArn")) {
				return fmt.Sprintf("%s.%s not recorded", at, g.Key(i))
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok {
			if s, isStr := got.(string); isStr {
				if pg, err := value.ParseString(s); err == nil {
					return match(want, pg, at)
				}
			}
			return fmt.Sprintf("%s: %s, recorded an array", at, value.String(got))
		}
		if len(g) != len(w) {
			return fmt.Sprintf("%s: %d items, recorded %d", at, len(g), len(w))
		}
		for i := range w {
			if msg := match(w[i], g[i], fmt.Sprintf("%s[%d]", at, i)); msg != "" {
				return msg
			}
		}
		return ""
	default:
		if s, isStr := got.(string); isStr {
			if pg, err := value.ParseString(s); err == nil {
				got = pg
			}
		}
		if value.Equal(want, got) {
			return ""
		}
		return fmt.Sprintf("%s: %s, recorded %s", at, value.String(got), value.String(want))
	}
}

// placeholderMatch matches a recorded string with placeholders (<uuid:1>, <region>, 111111111111, ...) against
// ours: each placeholder stands for any text.
func placeholderMatch(want, got string) bool {
	if !placeholderRE.MatchString(want) {
		return false
	}
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, loc := range placeholderRE.FindAllStringIndex(want, -1) {
		b.WriteString(regexp.QuoteMeta(want[last:loc[0]]))
		if want[loc[0]:loc[1]] == "111111111111" {
			b.WriteString(`\d{12}`)
		} else {
			b.WriteString(`.*?`)
		}
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(want[last:]))
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(got)
}

// compareHistories compares our history with the recorded one. Events are grouped by the thread they belong to
// (the top level, each Map iteration, each Parallel branch) so that the interleaving of concurrent threads, which
// Step Functions does not fix, does not count; within a thread, order, previousEventId structure and details
// must match. Recordings whose Parallel branch events were sorted and renumbered are compared loosely: the
// multiset of event types, and the order of the events that kept their ids.
func compareHistories(c *confCase, got []HistoryEvent) error {
	want := make([]map[string]any, 0, len(c.Events))
	loose := false
	for _, raw := range c.Events {
		v, err := value.Parse(raw)
		if err != nil {
			return err
		}
		m := eventMap(v.(*value.Object))
		if _, ok := m["id"].(value.Number); !ok {
			loose = true
		}
		want = append(want, m)
	}
	mine := make([]map[string]any, 0, len(got))
	for i := range got {
		b, err := json.Marshal(&got[i])
		if err != nil {
			return err
		}
		v, err := value.Parse(b)
		if err != nil {
			return err
		}
		m := eventMap(v.(*value.Object))
		for k, d := range m {
			if dobj, ok := d.(*value.Object); ok && strings.HasSuffix(k, "EventDetails") {
				m[k] = normaliseDetails(dobj)
			}
		}
		mine = append(mine, m)
	}
	if loose {
		return compareLoose(want, mine)
	}
	wantOrder, wantPos := canonical(want)
	gotOrder, gotPos := canonical(mine)
	if len(wantOrder) != len(gotOrder) {
		return fmt.Errorf("%d events, recorded %d\n got  %s\n want %s", len(gotOrder), len(wantOrder), typeList(mine), typeList(want))
	}
	for i := range wantOrder {
		w, g := wantOrder[i], gotOrder[i]
		if w["type"] != g["type"] {
			return fmt.Errorf("event %d (thread order): %v, recorded %v\n got  %s\n want %s", i, g["type"], w["type"], typeList(mine), typeList(want))
		}
		wp, gp := prevPos(w, wantPos), prevPos(g, gotPos)
		if wp != gp {
			return fmt.Errorf("event %v (%v): previous event is %s, recorded %s", g["id"], g["type"], describe(gotOrder, gp), describe(wantOrder, wp))
		}
		for k, wd := range w {
			if !strings.HasSuffix(k, "EventDetails") {
				continue
			}
			gd := g[k]
			if c.hasFlag("resource_arn_synthesised") {
				gd = relaxResource(wd, gd)
			}
			if msg := match(wd, gd, fmt.Sprintf("event %v %v", g["id"], g["type"])); msg != "" {
				return errors.New(msg)
			}
		}
	}
	return nil
}

// relaxResource: recordings flagged resource_arn_synthesised had their activity ARN replaced by its name in the
// events; accept our full ARN for it.
func relaxResource(want, got any) any {
	wo, ok1 := want.(*value.Object)
	gobj, ok2 := got.(*value.Object)
	if !ok1 || !ok2 {
		return got
	}
	wr, _ := wo.Get("resource")
	gr, _ := gobj.Get("resource")
	ws, ok1 := wr.(string)
	gs, ok2 := gr.(string)
	if ok1 && ok2 && strings.HasSuffix(gs, ":"+ws) {
		return gobj.With("resource", ws)
	}
	return got
}

func eventMap(o *value.Object) map[string]any {
	m := make(map[string]any, o.Len())
	for i := 0; i < o.Len(); i++ {
		m[o.Key(i)] = o.At(i)
	}
	delete(m, "timestamp")
	return m
}

// normaliseDetails applies the corpus's normalisation to our details: input/output/parameters/cause holding a
// JSON object become the object; roleArn and other environment values are matched by placeholders.
func normaliseDetails(d *value.Object) *value.Object {
	out := value.NewObject(d.Len())
	for i := 0; i < d.Len(); i++ {
		k, v := d.Key(i), d.At(i)
		switch k {
		case "input", "output", "parameters", "cause":
			v = normaliseTop(v)
		case "assignedVariables":
			if vars, ok := v.(*value.Object); ok {
				nv := value.NewObject(vars.Len())
				for j := 0; j < vars.Len(); j++ {
					nv.Set(vars.Key(j), normaliseTop(vars.At(j)))
				}
				v = nv
			}
		}
		out.Set(k, v)
	}
	return out
}

func typeList(evs []map[string]any) string {
	parts := make([]string, len(evs))
	for i, e := range evs {
		parts[i] = fmt.Sprintf("%v:%v<%v", e["id"], e["type"], e["previousEventId"])
	}
	return strings.Join(parts, " ")
}

func idOf(e map[string]any) int64 {
	n, _ := e["id"].(value.Number)
	i, _ := n.Int64()
	return i
}

func prevPos(e map[string]any, pos map[int64]int) int {
	n, _ := e["previousEventId"].(value.Number)
	i, _ := n.Int64()
	if i == 0 {
		return -1
	}
	if p, ok := pos[i]; ok {
		return p
	}
	return -2
}

func describe(order []map[string]any, p int) string {
	if p < 0 {
		return strconv.Itoa(p)
	}
	return fmt.Sprintf("%v (%v)", order[p]["type"], order[p]["id"])
}

// canonical orders a history by thread (the top level, then Map iterations and Parallel branches by their
// keys), keeping each thread's own order; it returns the order and each event id's position in it.
func canonical(evs []map[string]any) ([]map[string]any, map[int64]int) {
	byID := make(map[int64]map[string]any, len(evs))
	for _, e := range evs {
		byID[idOf(e)] = e
	}
	key := make(map[int64]string, len(evs))
	parent := func(k string) string {
		if i := strings.LastIndexByte(k, '/'); i >= 0 {
			return k[:i]
		}
		return ""
	}
	for _, e := range evs {
		id := idOf(e)
		n, _ := e["previousEventId"].(value.Number)
		pid, _ := n.Int64()
		prev := byID[pid]
		pk, ptype := "", ""
		if prev != nil {
			pk, ptype = key[pid], fmt.Sprint(prev["type"])
		}
		typ := fmt.Sprint(e["type"])
		index := func() string {
			for k, d := range e {
				if strings.HasPrefix(k, "mapIteration") {
					if o, ok := d.(*value.Object); ok {
						if i, ok := o.Get("index"); ok {
							return value.String(i)
						}
					}
				}
			}
			return "?"
		}
		lastSeg := pk[strings.LastIndexByte(pk, '/')+1:]
		switch {
		case typ == EventMapIterationStarted:
			base := pk
			if ptype != EventMapStateStarted {
				base = parent(pk)
			}
			key[id] = base + "/M" + fmt.Sprintf("%04s", index())
		case strings.HasPrefix(typ, "MapIteration"):
			key[id] = parent(pk) + "/M" + fmt.Sprintf("%04s", index())
		case ptype == EventParallelStateStarted && strings.HasSuffix(typ, "StateEntered"):
			key[id] = pk + "/B" + enteredName(e)
		case strings.HasPrefix(typ, "MapState") && ptype != "MapStateEntered" && strings.HasPrefix(lastSeg, "M"),
			strings.HasPrefix(typ, "ParallelState") && ptype != "ParallelStateEntered" && strings.HasPrefix(lastSeg, "B"):
			key[id] = parent(pk)
		default:
			key[id] = pk
		}
	}
	order := make([]map[string]any, len(evs))
	copy(order, evs)
	sort.SliceStable(order, func(i, j int) bool {
		ki, kj := key[idOf(order[i])], key[idOf(order[j])]
		if ki != kj {
			return ki < kj
		}
		return idOf(order[i]) < idOf(order[j])
	})
	pos := make(map[int64]int, len(order))
	for i, e := range order {
		pos[idOf(e)] = i
	}
	return order, pos
}

func enteredName(e map[string]any) string {
	if o, ok := e["stateEnteredEventDetails"].(*value.Object); ok {
		if v, ok := o.Get("name"); ok {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// compareLoose compares histories whose Parallel branch events lost their ids: the multiset of types (the
// renumbering also dropped ParallelStateSucceeded/Failed), and the order of the events that kept their ids.
func compareLoose(want, mine []map[string]any) error {
	count := map[string]int{}
	for _, e := range want {
		count[fmt.Sprint(e["type"])]++
	}
	for _, e := range mine {
		count[fmt.Sprint(e["type"])]--
	}
	for typ, n := range count {
		if n != 0 && typ != EventParallelStateSucceeded && typ != EventParallelStateFailed {
			return fmt.Errorf("%s: %d more recorded than ours\n got  %s\n want %s", typ, n, typeList(mine), typeList(want))
		}
	}
	j := 0
	for _, w := range want {
		if _, ok := w["id"].(value.Number); !ok {
			continue
		}
		for j < len(mine) && mine[j]["type"] != w["type"] {
			j++
		}
		if j == len(mine) {
			return fmt.Errorf("recorded %v (%v) out of order\n got  %s\n want %s", w["type"], w["id"], typeList(mine), typeList(want))
		}
		j++
	}
	return nil
}
