package asl

import (
	"container/heap"
	"fmt"
	"sync"
	"time"
)

// A scheduler runs the threads of one execution: the top-level states, each Parallel branch, each Map iteration.
//
// The virtual scheduler is a deterministic discrete-event simulation. Exactly one thread runs at a time; a thread
// that sleeps (Wait, retry back-off, a task's duration) is queued at its wake-up time, and the clock jumps to the
// earliest queued time when nothing can run now. Ties run in queue order, so an execution is a function of its
// definition, input, task outcomes and seed. Threads that never sleep run inline on the goroutine that reaches
// them (a Map of quick items costs no goroutine); a goroutine is started only for a thread that must wait while
// another runs.
//
// The real scheduler runs threads as goroutines on the wall clock, for live runs against real workers.
type scheduler interface {
	now() time.Time
	// sleep suspends t for d and reports whether t may go on (false: t was aborted meanwhile).
	sleep(t *thread, d time.Duration) bool
	// spawn starts child (see thread.run). Its end must notify(parent).
	spawn(parent, child *thread)
	// waitChildren suspends parent until cond holds; cond is evaluated under lock, again after each notify.
	// inline tells that cond can only hold once every running child has ended, which lets the virtual
	// scheduler run children on parent's goroutine.
	waitChildren(parent *thread, inline bool, cond func() bool)
	notify(parent *thread)
	// abort makes t and its descendants stop at their next step; a sleeping thread wakes at once.
	abort(t *thread)
	// lock guards bookkeeping that a compound state shares with its children.
	lock()
	unlock()
	// later runs fn after every thread that can run at the current instant has had its turn (virtual), or now
	// (real). fn runs as a child of parent.
	later(parent *thread, fn func())
}

// vgoroutine is a goroutine of the virtual scheduler; wake hands it control.
type vgoroutine struct{ wake chan struct{} }

type vsched struct {
	t        time.Time
	seq      uint64
	q        vqueue    // threads waiting for a later time
	ready    []*thread // threads that can run now, in the order they became ready (no heap needed)
	readyBuf []*thread
	fatal    any // a panic in a scheduler goroutine, re-raised on the root goroutine
	// goroutines counts the goroutines started; a run that started none can be recycled
	goroutines int
	root       *vgoroutine

	// storage for the above, to start without allocating
	rootG    vgoroutine
	readyArr [16]*thread
}

// init prepares s, which the execution holds by value, to run from start.
func (s *vsched) init(start time.Time) {
	s.t = start
	s.rootG.wake = make(chan struct{}, 1)
	s.root = &s.rootG
	s.readyBuf = s.readyArr[:0]
	s.ready = s.readyBuf
}

func (s *vsched) now() time.Time { return s.t }
func (s *vsched) lock()          {}
func (s *vsched) unlock()        {}

type vqueue []*thread

func (q vqueue) Len() int { return len(q) }
func (q vqueue) Less(i, j int) bool {
	if !q[i].qat.Equal(q[j].qat) {
		return q[i].qat.Before(q[j].qat)
	}
	return q[i].qseq < q[j].qseq
}
func (q vqueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].qidx = i
	q[j].qidx = j
}
func (q *vqueue) Push(x any) {
	t := x.(*thread)
	t.qidx = len(*q)
	*q = append(*q, t)
}
func (q *vqueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	t.qidx = -1
	return t
}

func (s *vsched) push(t *thread, at time.Time) {
	t.qat = at
	t.qseq = s.seq
	s.seq++
	if at.After(s.t) {
		heap.Push(&s.q, t)
		return
	}
	t.ready = true
	s.ready = append(s.ready, t)
	if cap(s.ready) > cap(s.readyBuf) {
		s.readyBuf = s.ready[:0:cap(s.ready)]
	}
}

// queued reports whether t waits in the ready list or the queue.
func (t *thread) queued() bool { return t.ready || t.qidx >= 0 }

// pop removes the next thread to run: the earliest, and among equals the first queued.
func (s *vsched) pop() *thread {
	if len(s.ready) > 0 {
		r := s.ready[0]
		if s.q.Len() == 0 || s.q[0].qat.After(s.t) || s.q[0].qseq > r.qseq {
			s.ready[0] = nil
			s.ready = s.ready[1:]
			if len(s.ready) == 0 {
				s.ready = s.readyBuf[:0] // start again at the front of the buffer
			}
			r.ready = false
			return r
		}
	}
	if s.q.Len() == 0 {
		return nil
	}
	return heap.Pop(&s.q).(*thread)
}

func (s *vsched) sleep(t *thread, d time.Duration) bool {
	if t.aborted {
		return false
	}
	if d < 0 {
		d = 0
	}
	t.sleeping = true
	s.push(t, s.t.Add(d))
	s.dispatch(t.vg, t)
	t.sleeping = false
	return !t.aborted
}

func (s *vsched) spawn(parent, child *thread) {
	s.push(child, s.t)
}

func (s *vsched) waitChildren(p *thread, inline bool, cond func() bool) {
	for !cond() {
		p.waitCond = cond
		p.waitInline = inline
		s.dispatch(p.vg, p)
		p.waitCond = nil
		p.waitInline = false
	}
}

func (s *vsched) notify(p *thread) {
	if p.waitCond != nil && !p.queued() && p.waitCond() {
		s.push(p, s.t)
	}
}

func (s *vsched) abort(t *thread) {
	if t.aborted {
		return
	}
	t.aborted = true
	if t.sleeping && t.qidx >= 0 {
		heap.Remove(&s.q, t.qidx)
		s.push(t, s.t)
	}
	for _, c := range t.children {
		s.abort(c)
	}
}

func (s *vsched) later(parent *thread, fn func()) {
	c := parent.x.newThread(parent)
	c.body = fn
	s.spawn(parent, c)
}

// dispatch hands control to the next queued thread. cur is the calling goroutine; parked is the thread it
// suspends (nil when the goroutine has nothing left to run and may exit). It returns when parked is resumed, or,
// for a free goroutine, when the goroutine should exit.
func (s *vsched) dispatch(cur *vgoroutine, parked *thread) {
	for {
		th := s.pop()
		if th == nil {
			if parked == nil {
				return
			}
			panic(fmt.Sprintf("asl: virtual scheduler: nothing can run while thread %p waits", parked))
		}
		if th.qat.After(s.t) {
			s.t = th.qat
		}
		switch {
		case th.vg == cur:
			// Only the top thread of a goroutine is ever queued (see run), so this is parked.
			return
		case th.vg != nil:
			th.vg.wake <- struct{}{}
			if parked == nil {
				return
			}
			s.block(cur)
			return
		case parked == nil || (parked.waitInline && th.parent == parked):
			// Run an unstarted thread on this goroutine: it cannot outlive parked, which waits for it.
			th.vg = cur
			th.run()
		default:
			s.goroutines++
			g := &vgoroutine{wake: make(chan struct{}, 1)}
			th.vg = g
			go s.goroutine(g, th)
			g.wake <- struct{}{}
			s.block(cur)
			return
		}
	}
}

func (s *vsched) block(cur *vgoroutine) {
	<-cur.wake
	if s.fatal != nil && cur == s.root {
		panic(s.fatal)
	}
}

func (s *vsched) goroutine(g *vgoroutine, th *thread) {
	defer func() {
		if r := recover(); r != nil {
			// An engine bug: stop the execution on the root goroutine, which re-raises it for Run to report.
			s.fatal = r
			s.root.wake <- struct{}{}
		}
	}()
	<-g.wake
	th.run()
	s.dispatch(g, nil)
}

// rsched is the real-time scheduler.
type rsched struct {
	mu       sync.Mutex
	cond     *sync.Cond
	maxDelay time.Duration // Options.MaxDelay
}

func newRealScheduler(maxDelay time.Duration) *rsched {
	s := &rsched{maxDelay: maxDelay}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *rsched) now() time.Time { return time.Now().UTC() }
func (s *rsched) lock()          { s.mu.Lock() }
func (s *rsched) unlock()        { s.mu.Unlock() }

func (s *rsched) sleep(t *thread, d time.Duration) bool {
	if t.ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	if s.maxDelay > 0 && d > s.maxDelay {
		d = s.maxDelay
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return t.ctx.Err() == nil
	case <-t.ctx.Done():
		return false
	}
}

func (s *rsched) spawn(parent, child *thread) {
	go func() {
		defer func() {
			if r := recover(); r != nil {
				child.x.setFatal(r)
				s.notify(parent)
			}
		}()
		child.run()
	}()
}

func (s *rsched) waitChildren(p *thread, _ bool, cond func() bool) {
	s.mu.Lock()
	for !cond() {
		s.cond.Wait()
	}
	s.mu.Unlock()
}

func (s *rsched) notify(*thread) {
	s.mu.Lock()
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *rsched) abort(t *thread) {
	if t.cancel != nil {
		t.cancel()
	}
}

func (s *rsched) later(parent *thread, fn func()) {
	c := parent.x.newThread(parent)
	c.body = fn
	s.spawn(parent, c)
}
