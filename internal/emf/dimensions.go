package emf

import "slices"

func (l *Logger) addDefault(d Dimension) *ValidationError {
	if e := checkName(FieldDimensionName, d.Name); e != nil {
		return e
	}
	if e := checkDimensionValue(d.Name, d.Value); e != nil {
		return e
	}
	if v, ok := dimensionValue(l.defaults, d.Name); ok {
		if v == d.Value {
			return nil
		}
		return invalid(FieldDimensionName, KindConflict, d.Name, "default dimension given twice with different values")
	}
	if len(l.defaults) == MaxDimensionsPerSet {
		return invalid(FieldDimensionSet, KindTooMany, d.Name, "more than 30 default dimensions")
	}
	l.defaults = append(l.defaults, d)
	l.dimBits |= nameBit(d.Name)
	return nil
}

func (l *Logger) isDimension(name string) bool {
	if l.dimBits&nameBit(name) == 0 {
		return false
	}
	for i := range l.defaults {
		if l.defaults[i].Name == name {
			return true
		}
	}
	for i := range l.values {
		if l.values[i].Name == name {
			return true
		}
	}
	return false
}

func dimensionValue(ds []Dimension, name string) (string, bool) {
	for _, d := range ds {
		if d.Name == name {
			return d.Value, true
		}
	}
	return "", false
}

// PutDimensions adds a dimension set made of the default dimensions followed by dims. With no dims it adds the set
// of the default dimensions alone, which is otherwise printed only while no other set exists. A set equal to one
// already present (in any order) is not added twice: CloudWatch would count its metrics twice.
func (l *Logger) PutDimensions(dims ...Dimension) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if e := l.putDimensions(dims); e != nil {
		return l.unlockReject(e)
	}
	l.mu.Unlock()
	return nil
}

// putDimensions is PutDimensions under l.mu.
func (l *Logger) putDimensions(dims []Dimension) *ValidationError {
	nv, ns := len(l.values), len(l.sets)
	if e := l.addSet(dims); e != nil {
		return e
	}
	if len(l.sets) == ns {
		return nil // already present
	}
	if e := l.commitDimensions(); e != nil {
		l.values, l.sets = l.values[:nv], l.sets[:ns]
		l.rebuildDimensions()
		return e
	}
	return nil
}

// addSet validates dims and adds their set unless an equal one exists; it does not encode (commitDimensions does).
func (l *Logger) addSet(dims []Dimension) *ValidationError {
	nv := len(l.values)
	keys, e := l.prepareSet(dims, &l.values)
	if e != nil {
		l.values = l.values[:nv]
		return e
	}
	for _, s := range l.sets {
		if sameKeys(s, keys) {
			return nil
		}
	}
	l.sets = append(l.sets, keys)
	return nil
}

// SetDimensions replaces every dimension set (the default dimensions still lead each one). With no sets, only the set
// of the default dimensions remains. Either all sets are valid and applied, or none is.
func (l *Logger) SetDimensions(sets ...[]Dimension) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if e := l.setDimensions(sets); e != nil {
		return l.unlockReject(e)
	}
	l.mu.Unlock()
	return nil
}

// setDimensions is SetDimensions under l.mu.
func (l *Logger) setDimensions(sets [][]Dimension) *ValidationError {
	oldValues, oldSets := l.values, l.sets
	// Validate against the dimensions being replaced no more: their names are free again.
	l.values, l.sets = nil, nil
	var values []Dimension
	newSets := make([][]string, 0, len(sets))
outer:
	for _, dims := range sets {
		keys, e := l.prepareSet(dims, &values)
		if e != nil {
			l.values, l.sets = oldValues, oldSets
			return e
		}
		for _, s := range newSets {
			if sameKeys(s, keys) {
				continue outer
			}
		}
		newSets = append(newSets, keys)
	}
	l.values, l.sets = values, newSets
	if e := l.commitDimensions(); e != nil {
		l.values, l.sets = oldValues, oldSets
		l.rebuildDimensions()
		return e
	}
	return nil
}

// prepareSet validates one set and returns its keys beyond the defaults, appending values it introduces to *values.
func (l *Logger) prepareSet(dims []Dimension, values *[]Dimension) ([]string, *ValidationError) {
	keys := l.carveKeys(len(dims))
	for _, d := range dims {
		if e := checkName(FieldDimensionName, d.Name); e != nil {
			return nil, e
		}
		if e := checkDimensionValue(d.Name, d.Value); e != nil {
			return nil, e
		}
		if l.find(d.Name) >= 0 || l.propIndex(d.Name) >= 0 {
			return nil, invalid(FieldDimensionName, KindConflict, d.Name, "already used as a metric or property")
		}
		if v, ok := dimensionValue(l.defaults, d.Name); ok {
			if v != d.Value {
				return nil, invalid(FieldDimensionValue, KindConflict, d.Name, "differs from the default dimension's value")
			}
			continue // already leads every set
		}
		if v, ok := dimensionValue(*values, d.Name); ok {
			if v != d.Value {
				return nil, invalid(FieldDimensionValue, KindConflict, d.Name,
					"a dimension has one value per document; another set already gives it a different one")
			}
		} else {
			*values = append(*values, d)
			l.dimBits |= nameBit(d.Name) // until rebuildDimensions recomputes them
		}
		if !slices.Contains(keys, d.Name) {
			keys = append(keys, d.Name)
		}
	}
	if len(l.defaults)+len(keys) > MaxDimensionsPerSet {
		return nil, invalid(FieldDimensionSet, KindTooMany, "", "a dimension set holds at most 30 dimensions, defaults included")
	}
	return keys, nil
}

func sameKeys(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, k := range a {
		if !slices.Contains(b, k) {
			return false
		}
	}
	return true
}

// commitDimensions encodes the new sets if the document still has room for metrics afterwards.
func (l *Logger) commitDimensions() *ValidationError {
	l.rebuildDimensions()
	if l.fixedSize() > fixedBudget {
		return invalid(FieldDimensionSet, KindTooLarge, "",
			"dimensions and properties would leave no room for metrics under the 1 MB document limit")
	}
	return nil
}

// rebuildDimensions encodes the document head (up to the first metric definition, dimension sets included) and the
// tail of the directive with the dimension members, in one piece of the arena. A failed change is undone by
// rebuilding, so the previous encoding is not needed: when it is the last piece of the arena, as while a logger is
// being set up (New, then PutDimensions), the new one takes its place.
func (l *Logger) rebuildDimensions() {
	if n, a := int(l.dimEnc), len(l.arena); n > 0 && n <= a && len(l.head) > 0 && &l.arena[a-1] == &l.head[len(l.head)-1] {
		l.arena = l.arena[:a-n]
	}
	a := len(l.arena)
	b := append(l.arenaFree(), '[')
	writeSet := func(extra []string) {
		b = append(b, '[')
		for i, d := range l.defaults {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, d.Name)
		}
		for i, k := range extra {
			if i > 0 || len(l.defaults) > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
		}
		b = append(b, ']')
	}
	if len(l.sets) == 0 {
		writeSet(nil)
	}
	for i, s := range l.sets {
		if i > 0 {
			b = append(b, ',')
		}
		writeSet(s)
	}
	b = append(b, ']')
	dimJSON := len(b)
	b = append(b, docDefsEnd...)
	l.dimBits = 0
	for _, d := range l.defaults {
		b = appendMember(b, d.Name, d.Value)
		l.dimBits |= nameBit(d.Name)
	}
	for _, d := range l.values {
		b = appendMember(b, d.Name, d.Value)
		l.dimBits |= nameBit(d.Name)
	}
	tail := len(b)
	b = append(b, docMetrics...)
	b = append(b, l.nsJSON...)
	b = append(b, docDimensions...)
	b = append(b, b[:dimJSON]...)
	b = append(b, docDefs...)

	out := l.claim(b)
	l.tail = out[dimJSON:tail:tail]
	l.head = out[tail:]
	l.dimEnc = int32(len(l.arena) - a) // 0 if it outgrew the arena
	l.dirMetrics = 0                   // the cached directive holds the old head and tail
}

func appendMember(b []byte, k, v string) []byte {
	b = append(b, ',')
	b = appendString(b, k)
	b = append(b, ':')
	return appendString(b, v)
}
