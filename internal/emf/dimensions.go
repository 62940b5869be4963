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
	return nil
}

func (l *Logger) isDimension(name string) bool {
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
	defer l.mu.Unlock()
	nv, ns := len(l.values), len(l.sets)
	if e := l.addSet(dims); e != nil {
		return l.reject(e)
	}
	if len(l.sets) == ns {
		return nil // already present
	}
	if e := l.commitDimensions(); e != nil {
		l.values, l.sets = l.values[:nv], l.sets[:ns]
		l.rebuildDimensions()
		return l.reject(e)
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
	defer l.mu.Unlock()
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
			return l.reject(e)
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
		return l.reject(e)
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

// rebuildDimensions encodes the dimension sets, the dimension members and the document head, in one piece of the
// arena (the previous encoding is left untouched, so a failed change can be undone by rebuilding).
func (l *Logger) rebuildDimensions() {
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
	for _, d := range l.defaults {
		b = appendMember(b, d.Name, d.Value)
	}
	for _, d := range l.values {
		b = appendMember(b, d.Name, d.Value)
	}
	members := len(b)
	b = append(b, docMetrics...)
	b = append(b, l.nsJSON...)
	b = append(b, docDimensions...)
	b = append(b, b[:dimJSON]...)
	b = append(b, docDefs...)

	out := l.claim(b)
	l.dimJSON = out[:dimJSON:dimJSON]
	l.dimMembers = out[dimJSON:members:members]
	l.head = out[members:]
}

func appendMember(b []byte, k, v string) []byte {
	b = append(b, ',')
	b = appendString(b, k)
	b = append(b, ':')
	return appendString(b, v)
}
