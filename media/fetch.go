package media

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"tinbao/storage"
)

// ErrTooBig is what a Downloader returns for a file over the cap it was
// given, or one the provider will not hand over for its size.
var ErrTooBig = errors.New("media: file too big")

// Downloader fetches a file a person sent on one channel by the provider's
// file ID, max bytes at most.
type Downloader interface {
	Download(ctx context.Context, fileID string, max int64) ([]byte, error)
}

// FetcherConfig tunes the Fetcher; zero values take the defaults.
type FetcherConfig struct {
	Poll        time.Duration // how often to look for files due; default 1s
	Lease       time.Duration // a claim not marked by then is taken again; default 2 minutes
	MaxAttempts int           // tries before a file fails for good; default 10 (about half an hour)
	Purge       time.Duration // how often expired web uploads are purged; default 10 minutes
}

// Fetcher brings the files of committed reports in, one at a time, in the
// background: the webhook that took the report never waits for a download.
// Each file is claimed (FOR UPDATE SKIP LOCKED), fetched within MaxBytes,
// cleaned, sealed under its report's key, and marked; a failure is tried
// again later, a few times.
type Fetcher struct {
	db   *storage.DB
	from map[string]Downloader // by channel
	cfg  FetcherConfig
	log  *slog.Logger
}

// NewFetcher builds a fetcher; from maps a channel to its downloader. A
// channel without one keeps its files waiting until it is configured or
// the attempts run out.
func NewFetcher(db *storage.DB, from map[string]Downloader, cfg FetcherConfig, log *slog.Logger) *Fetcher {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Purge <= 0 {
		cfg.Purge = 10 * time.Minute
	}
	return &Fetcher{db: db, from: from, cfg: cfg, log: log}
}

// Run fetches until ctx ends; it also purges web uploads whose report never
// came.
func (f *Fetcher) Run(ctx context.Context) {
	purged := time.Time{}
	for ctx.Err() == nil {
		if time.Since(purged) >= f.cfg.Purge {
			if n, err := f.db.PurgeUploads(ctx); err != nil {
				f.log.WarnContext(ctx, "purge uploads", "err", err)
			} else if n > 0 {
				f.log.InfoContext(ctx, "expired uploads purged", "count", n)
			}
			purged = time.Now()
		}
		if !f.Once(ctx) {
			select {
			case <-ctx.Done():
			case <-time.After(f.cfg.Poll):
			}
		}
	}
}

// Once claims one file that is due and fetches it; false when none was.
func (f *Fetcher) Once(ctx context.Context) bool {
	// A claim that reached Postgres must come back to us, shutdown or not.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	j, ok, err := f.db.ClaimMedia(cctx, f.cfg.Lease)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			f.log.WarnContext(ctx, "claim media", "err", err)
		}
		return false
	}
	if !ok {
		return false
	}
	// Finish a fetch that has begun within the lease, shutdown or not.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.Lease*2/3)
	defer cancel()
	f.fetch(fctx, j)
	return true
}

// fetch brings one file in. Its log lines name the row and the report's ID,
// never the file ID or anything in the file.
func (f *Fetcher) fetch(ctx context.Context, j storage.MediaJob) {
	log := f.log.With("media_id", j.ID, "tip_id", j.TipID, "channel", j.Channel, "attempt", j.Attempts)
	if j.Erased() {
		f.mark(ctx, log, j, "failed", 0, "report erased")
		return
	}
	d, ok := f.from[j.Channel]
	if !ok {
		f.retry(ctx, log, j, "channel "+j.Channel+" is not configured")
		return
	}
	fileID, err := f.db.Source(j)
	if err != nil {
		// The report's key is there but this replica cannot open it: a
		// rotation it has not been given yet. Try later.
		f.retry(ctx, log, j, "data key wrapped by a master key this replica lacks")
		return
	}
	data, err := d.Download(ctx, fileID, MaxBytes)
	switch {
	case errors.Is(err, ErrTooBig):
		f.mark(ctx, log, j, "too_big", 0, "over the size limit")
		return
	case err != nil:
		f.retry(ctx, log, j, err.Error())
		return
	}
	r := Process(data)
	file := storage.MediaFile{Kind: j.Kind, Original: data, ContentType: r.ContentType, Clean: r.Clean,
		Width: r.Width, Height: r.Height, NoPreview: r.NoPreview}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := f.db.StoreFetched(sctx, j, file); err != nil {
		log.WarnContext(ctx, "store fetched media", "err", err) // the lease runs out and it is fetched again
		return
	}
	log.InfoContext(ctx, "media fetched", "content_type", r.ContentType, "bytes", len(data), "cleaned", r.Clean != nil)
}

// retry records a failure: tried again after a backoff, or failed for good
// once the attempts run out.
func (f *Fetcher) retry(ctx context.Context, log *slog.Logger, j storage.MediaJob, reason string) {
	if j.Attempts >= f.cfg.MaxAttempts {
		f.mark(ctx, log, j, "failed", 0, reason)
		return
	}
	f.mark(ctx, log, j, "pending", backoff(j.Attempts), reason)
}

func (f *Fetcher) mark(ctx context.Context, log *slog.Logger, j storage.MediaJob, status string, retryIn time.Duration, reason string) {
	log.WarnContext(ctx, "media not fetched", "status", status, "retry_in", retryIn.String(), "reason", reason)
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := f.db.MediaNotFetched(mctx, j, status, retryIn, reason); err != nil {
		log.WarnContext(ctx, "mark media", "err", err)
	}
}

// backoff doubles from 5 s to 10 minutes, ±20 %, so that replicas that
// failed together do not retry together.
func backoff(attempts int) time.Duration {
	d := 5 * time.Second << min(attempts-1, 10)
	d = min(d, 10*time.Minute)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
