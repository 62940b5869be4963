// Package e2e holds cpwarden's end-to-end test: the demo scenario (backup,
// lifecycle, health and recovery) run by the real Lambda binary under the
// Runtime Interface Emulator against the sandbox, with the state of every
// system and every metric checked afterwards, and each execution replayed.
package e2e
