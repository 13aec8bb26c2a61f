package storage

import "time"

// ShortenLock makes the lock run out after d, for tests of a lock taken over.
func (s *Sessions) ShortenLock(d time.Duration) { s.lockTTL = d }
