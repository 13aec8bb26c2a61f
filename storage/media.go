package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"tinbao/flows"
	"tinbao/identity"
)

// UploadPrefix starts the FileID of an attachment that is a web chat upload
// waiting in pending_media: "upload:<id>".
const UploadPrefix = "upload:"

// UploadKeep is how long a web chat upload waits for its report: as long as
// the conversation itself is kept.
const UploadKeep = 24 * time.Hour

// ErrTooManyUploads means a sender has as many uploads waiting as a report
// can carry.
var ErrTooManyUploads = errors.New("storage: too many uploads waiting")

// MediaFile is an attachment's content: the original as it came and what
// was made of it (package media).
type MediaFile struct {
	Kind        string // photo, document, video, voice
	Original    []byte
	ContentType string // sniffed from the bytes
	Clean       []byte // the copy without metadata; nil if none
	Width       int
	Height      int
	NoPreview   string // why an image has no cleaned copy
}

// status is what a file's row says once its bytes are here: an image that
// could not be cleaned is unsupported (for a preview); its original is kept.
func (f MediaFile) status() string {
	if f.NoPreview != "" {
		return "unsupported"
	}
	return "fetched"
}

// Purposes of an attachment's sealed values, bound as associated data so
// that no value can stand in for another.
func mediaPurpose(what string, ordinal int) string {
	return "media\x00" + what + "\x00" + strconv.Itoa(ordinal)
}

// uploadKeyRef binds an upload's own key to its ID and sender.
func uploadKeyRef(sender, id string) string { return "upload\x00" + sender + "\x00" + id }

const sqlKeepUpload = `INSERT INTO pending_media (id, sender_pseudonym, kind, content_type, size, width, height, no_preview,
	wrapped, sha256_sealed, original_sealed, clean_sealed, expires_at)
SELECT $1, $2, $3, $4, $5, NULLIF($6, 0), NULLIF($7, 0), NULLIF($8, ''), $9, $10, $11, $12, now() + $13::interval
WHERE (SELECT count(*) FROM pending_media WHERE sender_pseudonym = $2 AND expires_at > now()) < $14`

// KeepUpload stores a web chat upload until its report is committed, sealed
// under a key of its own that the master key wraps, bound to the sender.
// It returns the FileID that names it in the conversation.
func (db *DB) KeepUpload(ctx context.Context, sender string, f MediaFile) (string, error) {
	if db.keys == nil {
		return "", ErrNoKeys
	}
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	dk, wrapped, err := db.keys.NewDataKey(uploadKeyRef(sender, id))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(f.Original)
	var clean []byte
	if f.Clean != nil {
		clean = dk.Seal("clean", f.Clean)
	}
	tag, err := db.pool.Exec(ctx, sqlKeepUpload, id, sender, f.Kind, f.ContentType, len(f.Original), f.Width, f.Height,
		f.NoPreview, wrapped, dk.Seal("sha256", sum[:]), dk.Seal("original", f.Original), clean,
		fmt.Sprintf("%d seconds", int(UploadKeep.Seconds())), flows.MaxMedia)
	if err != nil {
		return "", fmt.Errorf("keep upload: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return "", ErrTooManyUploads
	}
	return UploadPrefix + id, nil
}

// ForgetUploads deletes a sender's waiting uploads (the quick exit, a wipe).
func (db *DB) ForgetUploads(ctx context.Context, sender string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM pending_media WHERE sender_pseudonym = $1`, sender); err != nil {
		return fmt.Errorf("forget uploads: %w", err)
	}
	return nil
}

// PurgeUploads deletes the uploads whose report never came.
func (db *DB) PurgeUploads(ctx context.Context) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM pending_media WHERE expires_at <= now()`)
	if err != nil {
		return 0, fmt.Errorf("purge uploads: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// openUploads reads a sender's waiting uploads named by ids, opened.
func (db *DB) openUploads(ctx context.Context, sender string, ids []string) (map[string]MediaFile, error) {
	out := map[string]MediaFile{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT id, kind, content_type, COALESCE(width, 0), COALESCE(height, 0),
		COALESCE(no_preview, ''), wrapped, original_sealed, clean_sealed
		FROM pending_media WHERE id = ANY($1) AND sender_pseudonym = $2 AND expires_at > now()`, ids, sender)
	if err != nil {
		return nil, fmt.Errorf("open uploads: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var f MediaFile
		var wrapped, orig, clean []byte
		if err := rows.Scan(&id, &f.Kind, &f.ContentType, &f.Width, &f.Height, &f.NoPreview, &wrapped, &orig, &clean); err != nil {
			return nil, fmt.Errorf("open uploads: %w", err)
		}
		dk, err := db.keys.UnwrapDataKey(uploadKeyRef(sender, id), wrapped)
		if err != nil {
			return nil, fmt.Errorf("open upload: %w", err) // a master key this replica lacks: retried
		}
		if f.Original, err = dk.Open("original", orig); err != nil {
			return nil, fmt.Errorf("open upload: %w", err)
		}
		if clean != nil {
			if f.Clean, err = dk.Open("clean", clean); err != nil {
				return nil, fmt.Errorf("open upload: %w", err)
			}
		}
		out[id] = f
	}
	return out, rows.Err()
}

// mediaRows are a report's attachments, column by column, for one INSERT
// with unnest in the commit.
type mediaRows struct {
	ordinal, width, height               []int32
	kind, contentType, status, noPreview []string
	size                                 []int64
	source, sha, original, clean         [][]byte
	uploads                              []string // pending_media rows taken into the report
}

func (m *mediaRows) add(ordinal int, kind, status string, size int64) int {
	m.ordinal = append(m.ordinal, int32(ordinal))
	m.kind = append(m.kind, kind)
	m.status = append(m.status, status)
	m.size = append(m.size, size)
	m.contentType = append(m.contentType, "")
	m.noPreview = append(m.noPreview, "")
	m.width = append(m.width, 0)
	m.height = append(m.height, 0)
	m.source = append(m.source, nil)
	m.sha = append(m.sha, nil)
	m.original = append(m.original, nil)
	m.clean = append(m.clean, nil)
	return len(m.ordinal) - 1
}

// setFile seals a file's content under the report's key into row i.
func (m *mediaRows) setFile(i int, dk identity.DataKey, f MediaFile) {
	ord := int(m.ordinal[i])
	sum := sha256.Sum256(f.Original)
	m.status[i], m.size[i], m.contentType[i], m.noPreview[i] = f.status(), int64(len(f.Original)), f.ContentType, f.NoPreview
	m.width[i], m.height[i] = int32(f.Width), int32(f.Height)
	m.sha[i] = dk.Seal(mediaPurpose("sha256", ord), sum[:])
	m.original[i] = dk.Seal(mediaPurpose("original", ord), f.Original)
	if f.Clean != nil {
		m.clean[i] = dk.Seal(mediaPurpose("clean", ord), f.Clean)
	}
}

// sealMedia makes the rows of a report's attachments: a web upload is
// opened and sealed again under the report's key; a provider's file (by
// its ID) waits, sealed, for the Fetcher; one too big was refused.
func (db *DB) sealMedia(ctx context.Context, dk identity.DataKey, n NewTip) (mediaRows, error) {
	var m mediaRows
	var ids []string
	for _, f := range n.Report.Media {
		if id, ok := strings.CutPrefix(f.FileID, UploadPrefix); ok {
			ids = append(ids, id)
		}
	}
	uploads, err := db.openUploads(ctx, n.SenderPseudonym, ids)
	if err != nil {
		return m, err
	}
	for ord, f := range n.Report.Media {
		id, upload := strings.CutPrefix(f.FileID, UploadPrefix)
		switch {
		case upload:
			i := m.add(ord, f.Kind, "failed", f.Size) // expired: nothing to attach
			if file, ok := uploads[id]; ok {
				m.setFile(i, dk, file)
				m.uploads = append(m.uploads, id)
			}
		case f.Size > flows.MaxMediaBytes:
			m.add(ord, f.Kind, "too_big", f.Size)
		default:
			i := m.add(ord, f.Kind, "pending", f.Size)
			m.source[i] = dk.Seal(mediaPurpose("source", ord), []byte(f.FileID))
		}
	}
	return m, nil
}

// MediaJob is an attachment claimed for fetching.
type MediaJob struct {
	ID        int64
	TipID     int64
	Ordinal   int
	Kind      string
	Channel   string
	Attempts  int // this one included
	reference string
	wrapped   []byte
	source    []byte
}

const sqlClaimMedia = `WITH c AS (
	SELECT id FROM tip_media WHERE status = 'pending' AND next_attempt_at <= now()
	ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
)
UPDATE tip_media m SET attempts = m.attempts + 1, next_attempt_at = now() + $1::interval
FROM c, tips t LEFT JOIN data_keys k ON k.tip_id = t.id
WHERE m.id = c.id AND t.id = m.tip_id
RETURNING m.id, m.tip_id, m.ordinal, m.kind, t.channel, m.attempts, t.reference, k.wrapped, m.source_sealed`

// ClaimMedia takes the attachment most overdue for fetching, for lease: no
// other worker takes it meanwhile; one not marked by then is taken again.
// It returns false when nothing is due.
func (db *DB) ClaimMedia(ctx context.Context, lease time.Duration) (MediaJob, bool, error) {
	var j MediaJob
	err := db.pool.QueryRow(ctx, sqlClaimMedia, fmt.Sprintf("%d milliseconds", lease.Milliseconds())).Scan(
		&j.ID, &j.TipID, &j.Ordinal, &j.Kind, &j.Channel, &j.Attempts, &j.reference, &j.wrapped, &j.source)
	if errors.Is(err, pgx.ErrNoRows) {
		return MediaJob{}, false, nil
	}
	if err != nil {
		return MediaJob{}, false, fmt.Errorf("claim media: %w", err)
	}
	return j, true, nil
}

// Source opens the provider's ID of the file to fetch. ErrNoKey: the report
// was erased, or its key is wrapped by a master key this replica lacks.
func (db *DB) Source(j MediaJob) (string, error) {
	dk, err := db.dataKey(j.reference, j.wrapped)
	if err != nil {
		return "", err
	}
	id, err := dk.Open(mediaPurpose("source", j.Ordinal), j.source)
	return string(id), err
}

// Erased reports whether the job's report has lost its key for good.
func (j MediaJob) Erased() bool { return j.wrapped == nil }

// StoreFetched seals a fetched file under its report's key and marks it
// fetched (or unsupported, for an image with no cleaned copy). The file ID
// is no longer kept. Nothing changes if the claim was lost meanwhile.
func (db *DB) StoreFetched(ctx context.Context, j MediaJob, f MediaFile) error {
	dk, err := db.dataKey(j.reference, j.wrapped)
	if err != nil {
		return err
	}
	var m mediaRows
	m.setFile(m.add(j.Ordinal, j.Kind, "", 0), dk, f)
	_, err = db.pool.Exec(ctx, `UPDATE tip_media SET status = $3, content_type = $4, size = $5, width = NULLIF($6, 0),
		height = NULLIF($7, 0), no_preview = NULLIF($8, ''), sha256_sealed = $9, original_sealed = $10, clean_sealed = $11,
		source_sealed = NULL, last_error = NULL, fetched_at = now()
		WHERE id = $1 AND attempts = $2 AND status = 'pending'`,
		j.ID, j.Attempts, m.status[0], m.contentType[0], m.size[0], m.width[0], m.height[0], m.noPreview[0],
		m.sha[0], m.original[0], m.clean[0])
	if err != nil {
		return fmt.Errorf("store fetched media: %w", err)
	}
	return nil
}

// MediaNotFetched records a failed try: retried after retryIn, or, with a
// final status (failed, too_big), given up; the file ID goes then.
func (db *DB) MediaNotFetched(ctx context.Context, j MediaJob, status string, retryIn time.Duration, reason string) error {
	_, err := db.pool.Exec(ctx, `UPDATE tip_media SET status = $3, last_error = $4,
		next_attempt_at = now() + $5::interval,
		source_sealed = CASE WHEN $3 = 'pending' THEN source_sealed END
		WHERE id = $1 AND attempts = $2 AND status = 'pending'`,
		j.ID, j.Attempts, status, reason, fmt.Sprintf("%d milliseconds", retryIn.Milliseconds()))
	if err != nil {
		return fmt.Errorf("media not fetched: %w", err)
	}
	return nil
}

// MediaItem describes one attachment for the console, without its content.
type MediaItem struct {
	ID          int64
	Ordinal     int
	Kind        string
	ContentType string
	Size        int64
	Width       int
	Height      int
	Status      string
	NoPreview   string
	HasClean    bool
	HasOriginal bool
	CreatedAt   time.Time
}

// TipMedia lists a report's attachments in the order they were sent.
func (db *DB) TipMedia(ctx context.Context, tipID int64) ([]MediaItem, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, ordinal, kind, content_type, size, COALESCE(width, 0), COALESCE(height, 0),
		status, COALESCE(no_preview, ''), clean_sealed IS NOT NULL, original_sealed IS NOT NULL, created_at
		FROM tip_media WHERE tip_id = $1 ORDER BY ordinal`, tipID)
	if err != nil {
		return nil, fmt.Errorf("tip media: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MediaItem, error) {
		var m MediaItem
		return m, r.Scan(&m.ID, &m.Ordinal, &m.Kind, &m.ContentType, &m.Size, &m.Width, &m.Height, &m.Status, &m.NoPreview,
			&m.HasClean, &m.HasOriginal, &m.CreatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("tip media: %w", err)
	}
	return items, nil
}

// MediaContent is an attachment's bytes, opened for one officer.
type MediaContent struct {
	Ordinal     int
	ContentType string // of these bytes
	Data        []byte
	SHA256      []byte // of the original
}

// sqlMediaAccess audits the access and reads the sealed bytes in one
// statement: no attachment is read without its audit row.
const sqlMediaAccess = `WITH m AS (
	SELECT m.id, m.ordinal, m.content_type, CASE WHEN $3 THEN m.original_sealed ELSE m.clean_sealed END AS sealed,
		m.sha256_sealed, t.reference, k.wrapped
	FROM tip_media m JOIN tips t ON t.id = m.tip_id LEFT JOIN data_keys k ON k.tip_id = m.tip_id
	WHERE m.id = $2 AND m.tip_id = $1 AND k.wrapped IS NOT NULL
		AND (CASE WHEN $3 THEN m.original_sealed ELSE m.clean_sealed END) IS NOT NULL
), a AS (
	INSERT INTO audit_log (actor, action, tip_id, details)
	SELECT $4, CASE WHEN $3 THEN 'media.original_viewed' ELSE 'media.viewed' END, $1,
		jsonb_build_object('media', m.id::text, 'from', $5::text) FROM m
)
SELECT ordinal, content_type, sealed, sha256_sealed, reference, wrapped FROM m`

// OpenMedia reads an attachment of a report for an officer, audited as
// media.viewed (the cleaned copy) or media.original_viewed (the original):
// who asks decides the caller, who may see originals. ErrNotFound when
// there is no such content, or the report was erased.
func (db *DB) OpenMedia(ctx context.Context, tipID, mediaID int64, original bool, officer, from string) (MediaContent, error) {
	var c MediaContent
	var sealed, sha, wrapped []byte
	var ref string
	err := db.pool.QueryRow(ctx, sqlMediaAccess, tipID, mediaID, original, officer, from).Scan(
		&c.Ordinal, &c.ContentType, &sealed, &sha, &ref, &wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("open media: %w", err)
	}
	dk, err := db.dataKey(ref, wrapped)
	if err != nil {
		return c, fmt.Errorf("open media: %w", err)
	}
	what := "clean"
	if original {
		what = "original"
	}
	if c.Data, err = dk.Open(mediaPurpose(what, c.Ordinal), sealed); err != nil {
		return c, fmt.Errorf("open media: %w", err)
	}
	if c.SHA256, err = dk.Open(mediaPurpose("sha256", c.Ordinal), sha); err != nil {
		return c, fmt.Errorf("open media: %w", err)
	}
	return c, nil
}
