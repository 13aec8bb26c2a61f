//go:build race

package main

// raceDetector: the race detector slows every request tenfold; tests that
// count on volume scale down under it (it finds races as well in fewer).
const raceDetector = true
