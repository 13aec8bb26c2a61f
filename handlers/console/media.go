package console

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"tinbao/media"
	"tinbao/storage"
)

// mediaItem is an attachment as the report page lists it.
type mediaItem struct {
	storage.MediaItem
	KB int64
}

func mediaItems(items []storage.MediaItem) []mediaItem {
	out := make([]mediaItem, 0, len(items))
	for _, it := range items {
		out = append(out, mediaItem{MediaItem: it, KB: (it.Size + 1023) / 1024})
	}
	return out
}

// mediaFile serves a photo's cleaned copy, shown inline on the report
// page; audited as media.viewed.
func (c *Console) mediaFile(w http.ResponseWriter, r *http.Request) { c.serveMedia(w, r, false) }

// mediaOriginal serves an original as it came, metadata and all, for
// evidence: only to supervisors, who decide what goes to an investigation,
// and audited as media.original_viewed. The cleaned copy is all an intake
// officer needs, and the original may tell where the reporter stood.
func (c *Console) mediaOriginal(w http.ResponseWriter, r *http.Request) { c.serveMedia(w, r, true) }

func (c *Console) serveMedia(w http.ResponseWriter, r *http.Request, original bool) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return
	}
	o := officer(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || unitOfficer(o) { // units are shared answers, not attachments
		c.fail(w, r, http.StatusNotFound, "console.err.no_media")
		return
	}
	if original && !supervises(o) {
		c.audit(r, o.Username, "media.original_refused", t.ID, map[string]string{"media": strconv.FormatInt(id, 10), "from": clientIP(r)})
		c.fail(w, r, http.StatusForbidden, "console.err.originals")
		return
	}
	m, err := c.db.OpenMedia(r.Context(), t.ID, id, original, o.Username, clientIP(r))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "console.err.no_media")
		return
	case err != nil:
		c.log.ErrorContext(r.Context(), "open media", "tip_id", t.ID, "media_id", id, "err", err)
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	h := w.Header()
	if original {
		// Never rendered by the browser: saved, whatever it is.
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%d%s"`, t.Reference, m.Ordinal+1, fileExtension(m.ContentType)))
		h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(m.SHA256)+":")
	} else {
		if !media.Cleanable(m.ContentType) { // only a cleaned image is ever served inline
			c.fail(w, r, http.StatusNotFound, "console.err.no_media")
			return
		}
		h.Set("Content-Type", m.ContentType)
		h.Set("Content-Disposition", "inline")
	}
	h.Set("Content-Length", strconv.Itoa(len(m.Data)))
	_, _ = w.Write(m.Data)
}

// fileExtension names a saved original's type for the officer's computer.
func fileExtension(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/webp":
		return ".webp"
	case "image/heic":
		return ".heic"
	case "image/gif":
		return ".gif"
	case "application/pdf":
		return ".pdf"
	case "video/mp4":
		return ".mp4"
	}
	return ".bin"
}
