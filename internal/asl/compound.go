package asl

import (
	"math"
	"strconv"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// completion is a finished child thread (a branch or an iteration), as its parent processes it.
type completion struct {
	child  *thread
	index  int
	out    any
	f      *failure
	src    int64   // the child's last event
	active *cstate // the state the child was in when it stopped (Task, Parallel, Map, Wait), if any
}

// group is the children of one Parallel or Map attempt.
type group struct {
	children []*thread
	running  int
	done     []completion
	spare    []completion // the buffer takeDone reads next (nil until a second batch of completions needs it)
	aborting bool
}

// newGroup starts the children of a compound state on t; n is how many may run at once.
func newGroup(t *thread, n int) *group {
	// Earlier compound states of t are over: their children need no more aborting.
	t.x.sched.lock()
	clear(t.children)
	t.children = t.children[:0]
	t.x.sched.unlock()
	return t.x.takeGroup(n)
}

// takeGroup returns an empty group with room for n children: a group of an earlier run of the engine when there
// is one (see recycle), so that its buffers are reused.
func (x *execution) takeGroup(n int) *group {
	if !x.virtual {
		x.mu.Lock()
		defer x.mu.Unlock()
	}
	var g *group
	if x.ngroups < len(x.groups) {
		g = x.groups[x.ngroups]
	} else {
		g = &group{}
		x.groups = append(x.groups, g)
	}
	x.ngroups++
	if cap(g.children) < n {
		g.children = make([]*thread, 0, n)
	}
	if cap(g.done) < n {
		g.done = make([]completion, 0, n)
	}
	return g
}

// reset empties g, dropping what it refers to but keeping its buffers.
func (g *group) reset() {
	clear(g.children[:cap(g.children)])
	clear(g.done[:cap(g.done)])
	clear(g.spare[:cap(g.spare)])
	*g = group{children: g.children[:0], done: g.done[:0], spare: g.spare[:0]}
}

// startChild runs machine m on input as child c of t, recording its completion in g.
func (x *execution) startChild(t *thread, g *group, c *thread, index int, m *machine, input any) {
	x.sched.lock()
	g.running++
	g.children = append(g.children, c)
	x.sched.unlock()
	c.group, c.index, c.machine, c.input = g, index, m, input
	x.sched.spawn(t, c)
}

// run is the body of a thread the scheduler starts: a branch or an iteration, or a special thread with a body.
func (c *thread) run() {
	if c.body != nil {
		c.body()
		return
	}
	x, t, g := c.x, c.parent, c.group
	out, f := x.runMachine(c, c.machine, c.input)
	x.sched.lock()
	g.done = append(g.done, completion{child: c, index: c.index, out: out, f: f, src: c.src, active: c.active})
	g.running--
	c.finished = true
	abortSiblings := f != nil && f != errAborted && !g.aborting
	if abortSiblings {
		g.aborting = true
	}
	x.sched.unlock()
	if abortSiblings {
		// The other children stop, but only once every thread that can run at this instant has had its turn:
		// what happens at the same moment as the failure still happens.
		x.sched.later(t, func() {
			x.sched.lock()
			var running []*thread
			for _, ch := range g.children {
				if !ch.finished {
					running = append(running, ch)
				}
			}
			x.sched.unlock()
			for _, ch := range running {
				x.sched.abort(ch)
			}
		})
	}
	x.sched.notify(t)
}

// takeDone returns and clears the completions recorded so far. The slice is valid until the next takeDone on g:
// the two buffers alternate, children appending to one while the caller reads the other.
func (x *execution) takeDone(g *group) []completion {
	x.sched.lock()
	defer x.sched.unlock()
	d := g.done
	if len(d) == 0 {
		return nil
	}
	// Children that end from now on append to the other buffer (allocated on first use: in virtual time a
	// Parallel, or a Map whose iterations all run at once, has a single batch of completions).
	clear(g.spare[:cap(g.spare)]) // drop the references of the completions read before
	g.done, g.spare = g.spare[:0], d
	return d
}

// emitAborted reports that a child stopped while in a state: <Type>StateAborted.
func (x *execution) emitAborted(t *thread, active *cstate, prev int64) {
	if active != nil {
		x.emitPrev(t, prev, active.abortedEvent, nil, false)
	}
}

func (x *execution) runParallel(r *stateRun, input any) (any, *cstate, *failure) {
	st, t := r.st, r.t
	counters := make([]int, len(st.retry)) // attempts per retrier
	for {
		eff, f := r.parameters(input)
		if f != nil {
			return nil, nil, f
		}
		x.emit(t, EventParallelStateStarted, nil)
		results, f := x.runBranches(r, eff)
		if out, next, f, retry := r.settle(results, f, counters, EventParallelStateFailed); !retry {
			return out, next, f
		}
	}
}

func (x *execution) runBranches(r *stateRun, input any) ([]any, *failure) {
	t, st := r.t, r.st
	g := newGroup(t, len(st.branches))
	started := t.src
	for i, b := range st.branches {
		c := x.newThread(t)
		c.src = started
		if x.opts.OnState != nil {
			c.scope = scopeName(t.scope, st.name, i)
		}
		x.startChild(t, g, c, i, b, input)
	}
	x.sched.waitChildren(t, true, func() bool { return g.running == 0 })
	results := make([]any, len(st.branches))
	var fail *failure
	var failEvt, lastSrc int64 = 0, started
	for _, c := range x.takeDone(g) {
		switch {
		case fail != nil:
			if c.f != nil {
				x.emitAborted(t, c.active, failEvt)
			}
		case c.f == nil:
			results[c.index] = c.out
			lastSrc = c.src
		case c.f == errAborted:
		default:
			fail, failEvt = c.f, c.src
			x.emitAborted(t, c.active, failEvt)
		}
	}
	if f := x.endChildren(t, fail, failEvt, lastSrc, EventParallelStateSucceeded); f != nil {
		return nil, f
	}
	out := make([]any, len(results))
	copy(out, results)
	return out, nil
}

// endChildren ends the wait of a Parallel or Map for its children: aborted, failed (what follows comes after
// the failure's event, failEvt), or succeeded, with the succeeded event after the last child's, last.
func (x *execution) endChildren(t *thread, fail *failure, failEvt, last int64, succeeded string) *failure {
	if t.isAborted() {
		return errAborted
	}
	if fail != nil {
		t.src = failEvt
		return fail
	}
	t.src = last
	x.emitPrev(t, last, succeeded, nil, false)
	return nil
}

func scopeName(parent, state string, i int) string {
	s := state + "[" + strconv.Itoa(i) + "]"
	if parent == "" {
		return s
	}
	return parent + "/" + s
}

func (x *execution) runMap(r *stateRun, input any) (any, *cstate, *failure) {
	st, t := r.st, r.t
	counters := make([]int, len(st.retry)) // attempts per retrier
	for {
		items, f := r.mapItems(input)
		if f != nil {
			return nil, nil, f
		}
		limits, f := r.mapLimits(input, len(items))
		if f != nil {
			return nil, nil, f
		}
		x.emit(t, EventMapStateStarted, &MapStateStartedEventDetails{Length: len(items)})
		results, f := x.runIterations(r, input, items, limits)
		if out, next, f, retry := r.settle(results, f, counters, EventMapStateFailed); !retry {
			return out, next, f
		}
	}
}

// mapItems selects the array a Map iterates over.
func (r *stateRun) mapItems(input any) ([]any, *failure) {
	v := input
	if p := r.st.mp.itemsPath; p != nil {
		var err error
		if v, err = r.env(input).Path(p); err != nil {
			return nil, r.fail("Invalid path '%s' : %s", p.String(), err.Error())
		}
	}
	items, ok := v.([]any)
	if !ok {
		path := "$"
		if r.st.mp.itemsPath != nil {
			path = r.st.mp.itemsPath.String()
		}
		return nil, r.fail("Map state input must be an array but was: %s (ItemsPath %s)", value.String(v), path)
	}
	return items, nil
}

type mapLimits struct {
	maxConcurrency int     // 0: unlimited
	toleratedCount int     // -1: not set
	toleratedPct   float64 // -1: not set
}

// mapLimits resolves MaxConcurrency and the tolerated failure thresholds, literal or by path.
func (r *stateRun) mapLimits(input any, n int) (mapLimits, *failure) {
	ms := r.st.mp
	l := mapLimits{toleratedCount: -1, toleratedPct: -1}
	if ms.maxConcurrency.set {
		m, f := r.intField(ms.maxConcurrency, input, false)
		if f != nil {
			return l, f
		}
		if m < 0 {
			return l, r.fail("Expected non-negative integer for MaxConcurrency, got '%d' instead.", m)
		}
		l.maxConcurrency = int(min(m, math.MaxInt32))
	}
	if ms.toleratedCount.set {
		c, f := r.intField(ms.toleratedCount, input, false)
		if f != nil {
			return l, f
		}
		if c < 0 {
			return l, r.fail("ToleratedFailureCount cannot be negative.")
		}
		l.toleratedCount = int(min(c, math.MaxInt32))
	}
	if ms.toleratedPct.set {
		p := ms.toleratedPct.f
		if ms.toleratedPct.path != nil {
			num, v, f := r.numberAt(ms.toleratedPct.path, input)
			if f != nil {
				return l, f
			}
			pct, ferr := num.Float64()
			if ferr != nil {
				return l, r.fail("The ToleratedFailurePercentagePath field refers to value \"%s\" which is not a valid float: %s", plain(v), ms.toleratedPct.path.String())
			}
			p = pct
		}
		if p < 0 || p > 100 {
			return l, r.fail("ToleratedFailurePercentage must be between 0 and 100.")
		}
		l.toleratedPct = p
	}
	return l, nil
}

func (x *execution) runIterations(r *stateRun, input any, items []any, l mapLimits) ([]any, *failure) {
	t, st, ms := r.t, r.st, r.st.mp
	n := len(items)
	maxc := l.maxConcurrency
	if maxc <= 0 || maxc > n {
		maxc = n
	}
	// Children may run on this goroutine when the parent only resumes once all of them have ended.
	inline := maxc == n || maxc == 1
	g := newGroup(t, maxc)
	results := make([]any, n)
	lastPub := t.src
	var fail *failure
	var failEvt int64
	failures := 0
	next := 0
	var item mapItem
	// The iterations' $$ indexes (enclosing ones, then their own), cut from one block.
	depth := len(t.iter) + 1
	iters := make([]int, 0, n*depth)
	// The details of the iterations' events, which the history keeps (threads are recycled; see execPool).
	recs := make([]iterRecs, n)
	for {
		for next < n && g.running < maxc && fail == nil && !t.isAborted() {
			k := next
			next++
			in := items[k]
			if st.parameters != nil {
				item = mapItem{index: k, value: items[k]}
				r.item, r.ctxItem = &item, nil
				v, f := r.evalTemplate(st.parameters, input)
				r.item = nil
				if f != nil {
					return nil, f
				}
				in = v
			}
			c := x.newThread(t)
			recs[k].started = MapIterationEventDetails{Name: st.name, Index: k}
			id := x.emitPrev(t, t.src, EventMapIterationStarted, &recs[k].started, false)
			c.src = id
			if x.opts.OnState != nil {
				c.scope = scopeName(t.scope, st.name, k)
			}
			start := len(iters)
			iters = append(append(iters, t.iter...), k)
			c.iter = iters[start:len(iters):len(iters)]
			c.frame, c.countsAt = c, -1
			x.startChild(t, g, c, k, ms.processor, in)
		}
		if g.running == 0 && len(g.done) == 0 {
			break
		}
		x.sched.waitChildren(t, inline, func() bool {
			if inline {
				return g.running == 0
			}
			return len(g.done) > 0
		})
		for _, c := range x.takeDone(g) {
			switch {
			case fail != nil:
				recs[c.index].ended = MapIterationEventDetails{Name: st.name, Index: c.index}
				x.emitPrev(t, failEvt, EventMapIterationAborted, &recs[c.index].ended, false)
				x.emitAborted(t, c.active, failEvt)
			case c.f == nil:
				results[c.index] = c.out
				recs[c.index].ended = MapIterationEventDetails{Name: st.name, Index: c.index}
				lastPub = x.emitPrev(t, c.src, EventMapIterationSucceeded, &recs[c.index].ended, false)
				t.src = c.src
			case c.f == errAborted:
			default:
				failures++
				recs[c.index].ended = MapIterationEventDetails{Name: st.name, Index: c.index}
				if tolerated(l, failures, n) {
					lastPub = x.emitPrev(t, c.src, EventMapIterationFailed, &recs[c.index].ended, false)
					t.src = c.src
					continue
				}
				fail, failEvt = c.f, c.src
				if l.toleratedCount >= 0 || l.toleratedPct >= 0 {
					fail = newFailure(ErrExceedToleratedFailure, "The specified tolerated failure threshold was exceeded")
				}
				x.emitPrev(t, failEvt, EventMapIterationFailed, &recs[c.index].ended, false)
				x.emitAborted(t, c.active, failEvt)
			}
		}
	}
	if f := x.endChildren(t, fail, failEvt, lastPub, EventMapStateSucceeded); f != nil {
		return nil, f
	}
	return results, nil
}

// iterRecs are the details of a Map iteration's events.
type iterRecs struct{ started, ended MapIterationEventDetails }

func tolerated(l mapLimits, failures, n int) bool {
	if l.toleratedCount >= 0 && failures <= l.toleratedCount {
		return true
	}
	if l.toleratedPct >= 0 && n > 0 && float64(failures)*100/float64(n) <= l.toleratedPct {
		return true
	}
	return false
}
