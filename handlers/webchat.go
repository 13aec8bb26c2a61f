package handlers

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"tinbao/bot/web"
	"tinbao/flows"
	"tinbao/locales"
	"tinbao/media"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

const (
	chatCookie = "tinbao_chat"
	// maxChatBody holds the longest message in JSON: 4 bytes a character at
	// most, and as much again for escapes.
	maxChatBody = 8*flows.MaxTextRunes + 1<<10
	// exitURL is where Thoát nhanh goes: an ordinary page that gives
	// nothing away to someone looking over a shoulder.
	exitURL = "https://www.google.com/search?q=d%E1%BB%B1+b%C3%A1o+th%E1%BB%9Di+ti%E1%BA%BFt"
	// chatCSP allows nothing but this site's own script, style and requests.
	chatCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

// chatPage holds the page's texts, in the browser's language.
type chatPage struct {
	Lang, Title, Note, Note2, Privacy, Placeholder, Send, Exit, Offline, NoScript, ExitURL string
	Sending, Retrying, Copy, Copied, Call                                                  string
	Photo, PhotoSent, PhotoTooBig                                                          string
	// MaxText is the longest message the flows take (in characters), and
	// TooLong what the page says, keeping the text, to one that is longer:
	// the browser's own maxlength would cut a pasted story silently.
	MaxText int
	TooLong string
	// Start says whether the page opens by asking the pending question
	// again (the menu when nothing is pending): false after a wipe, when the
	// page waits, blank, for the person to write.
	Start bool
}

func parseChatTemplate() (*template.Template, error) {
	return template.ParseFS(templateFS, "templates/chat.html")
}

// noStore keeps the chat out of caches and the back-forward history, and
// locks the page down.
func noStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", chatCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

// chatLang picks the page's language: Vietnamese, whatever the phone's
// setting (many phones in Vietnam are set to English), unless the page is
// asked for another with ?lang=; the menu offers the switch.
func (h *Handlers) chatLang(r *http.Request) string {
	if l := h.cat.Match(r.URL.Query().Get("lang")); l != "" {
		return l
	}
	return locales.Default
}

func (h *Handlers) chatPage(w http.ResponseWriter, r *http.Request) {
	lang := h.chatLang(r)
	t := func(id string) string { return h.cat.T(lang, id, nil) }
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := h.chatTmpl.Execute(w, chatPage{
		Lang: lang, Title: t("web.title"), Note: t("web.note"), Note2: t("web.note2"), Privacy: t("web.privacy_link"),
		Sending: t("web.sending"), Retrying: t("web.retrying"), Copy: t("web.copy"), Copied: t("web.copied"),
		Call: t("web.call"), Placeholder: t("web.placeholder"),
		Photo: t("web.photo"), PhotoSent: t("web.photo_sent"),
		PhotoTooBig: h.cat.T(lang, "web.photo_too_big", map[string]any{"MB": media.MaxBytes >> 20, "Count": flows.MaxMedia}),
		MaxText:     flows.MaxTextRunes,
		TooLong:     h.cat.T(lang, "common.too_long", map[string]any{"Max": locales.Count(lang, flows.MaxTextRunes)}),
		Send:        t("button.send"), Exit: t("web.exit"), Offline: t("web.offline"), NoScript: t("web.noscript"),
		ExitURL: exitURL, Start: chatStart(r),
	})
	if err != nil {
		h.log.ErrorContext(r.Context(), "render chat", "request_id", requestID(r.Context()), "err", err)
	}
}

func chatStart(r *http.Request) bool { return r.URL.Query().Get("start") != "none" }

func (h *Handlers) chatStatic() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/chat/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// chatSession returns the browser's session ID, or "" when it has none.
// Only a cookie tinbao issued counts: any other value is no session.
func (h *Handlers) chatSession(r *http.Request) string {
	if c, err := r.Cookie(chatCookie); err == nil {
		if id, ok := h.web.Session(c.Value); ok {
			return id
		}
	}
	return ""
}

// newChatSession makes a session and its cookie, for a browser that sent a
// message and has none.
func (h *Handlers) newChatSession(w http.ResponseWriter) string {
	id, value := h.web.Issue()
	// No Expires or Max-Age: the cookie ends with the browser session.
	http.SetCookie(w, &http.Cookie{Name: chatCookie, Value: value, Path: "/chat", HttpOnly: true,
		Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	return id
}

// sameOrigin refuses requests another site makes the browser send: the
// custom header cannot be set cross-site without a CORS preflight we never
// grant, and Sec-Fetch-Site says where a request came from.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	return r.Header.Get("X-Tinbao") == "1"
}

type chatRequest struct {
	ID     string `json:"id"`
	Text   string `json:"text"`
	Choice string `json:"choice"`
	Lang   string `json:"lang"`
	Queued bool   `json:"queued"`
	// Greeted: the page has shown an answer (its opening menu) already.
	Greeted bool `json:"greeted"`
}

// parseChatRequest reads the page's POST /chat/send body: JSON, with a
// message ID as the page makes them (web.Incoming.Check).
func parseChatRequest(body []byte) (web.Incoming, error) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return web.Incoming{}, err
	}
	in := web.Incoming{ID: req.ID, Text: req.Text, Choice: req.Choice, Lang: req.Lang, Queued: req.Queued,
		Greeted: req.Greeted}
	return in, in.Check()
}

type chatResponse struct {
	Replies []web.Render `json:"replies"`
	Wipe    bool         `json:"wipe,omitempty"`
	Lang    string       `json:"lang,omitempty"` // the conversation's language: the page follows it
	Error   string       `json:"error,omitempty"`
	// Message says, in the person's language, why a photo was refused.
	Message string `json:"message,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	noStore(w)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handlers) chatSend(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, chatResponse{Error: "cross-site request refused"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxChatBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, chatResponse{Error: "message too long"})
			return
		}
		writeJSON(w, http.StatusBadRequest, chatResponse{Error: "could not read body"})
		return
	}
	// Sessions are lazy: nothing is made or written for a request that
	// carries no message (parseChatRequest refuses it), nor for the page's
	// opening.
	in, err := parseChatRequest(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, chatResponse{Error: "malformed message"})
		return
	}
	in.Address = clientAddress(r, h.cfg.TrustedProxyHeader)
	ctx, cancel := context.WithTimeout(r.Context(), handleTimeout)
	defer cancel()
	sid := h.chatSession(r)
	if sid == "" {
		if out, ok := h.web.Opening(in); ok {
			writeJSON(w, http.StatusOK, chatResponse{Replies: web.Replies(out.Replies), Lang: out.Lang})
			return
		}
		if !h.admitChatSession(ctx, w, r, in) {
			return
		}
		sid = h.newChatSession(w)
	}
	out, err := h.web.Handle(ctx, sid, in)
	switch {
	case errors.Is(err, web.ErrBadInput):
		writeJSON(w, http.StatusBadRequest, chatResponse{Error: "malformed message"})
	case err != nil:
		h.log.ErrorContext(r.Context(), "web chat message failed", "request_id", requestID(r.Context()), "err", err)
		writeJSON(w, http.StatusServiceUnavailable, chatResponse{Replies: web.Replies(out.Replies),
			Error: "request " + requestID(r.Context())})
	default:
		writeJSON(w, http.StatusOK, chatResponse{Replies: web.Replies(out.Replies), Wipe: out.Wipe, Lang: out.Lang})
	}
}

// admitChatSession applies the per-address limit on new sessions; past it,
// the browser gets no session and a calm 429 that the page shows (it keeps
// the message and sends it again later).
func (h *Handlers) admitChatSession(ctx context.Context, w http.ResponseWriter, r *http.Request, in web.Incoming) bool {
	ok, err := h.web.AdmitSession(ctx, in.Address)
	switch {
	case err != nil:
		h.log.ErrorContext(r.Context(), "web chat session limit", "request_id", requestID(r.Context()), "err", err)
		writeJSON(w, http.StatusServiceUnavailable, chatResponse{Error: "request " + requestID(r.Context())})
		return false
	case !ok:
		lang := h.cat.Match(in.Lang)
		if lang == "" {
			lang = locales.Default
		}
		h.log.InfoContext(r.Context(), "web chat session refused: too many from one address", "request_id", requestID(r.Context()))
		w.Header().Set("Retry-After", strconv.Itoa(chatRetryAfter))
		writeJSON(w, http.StatusTooManyRequests, chatResponse{Replies: []web.Render{{Text: h.cat.T(lang, "web.too_many", nil)}},
			Error: "too many new conversations from this address"})
		return false
	}
	return true
}

// chatRetryAfter is when the page tries a refused new session again, in
// seconds: often enough to get through soon after the window turns.
const chatRetryAfter = 60

// chatInbox answers the page's poll. ?shown=N says the page displayed the
// first N messages of the last answer: only those are dropped, so an answer
// lost on the way is sent again. With messages comes the menu, so that an
// acknowledgement is never a dead end.
func (h *Handlers) chatInbox(w http.ResponseWriter, r *http.Request) {
	sid := h.chatSession(r)
	msgs := []string{}
	var menu []web.RenderItem
	shown, _ := strconv.Atoi(r.URL.Query().Get("shown"))
	if sid != "" && shown >= 0 && shown <= 1000 {
		got, err := h.web.Collect(r.Context(), sid, shown)
		if err != nil {
			h.log.WarnContext(r.Context(), "web chat inbox", "request_id", requestID(r.Context()), "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"messages": msgs})
			return
		}
		msgs = append(msgs, got...)
		if len(msgs) > 0 {
			menu = web.Replies([]flows.Reply{{Choices: h.web.Menu(h.chatLang(r))}})[0].Choices
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs, "menu": menu})
}

// chatExit forgets the session and ends the cookie: the quick exit and the
// wipe. It takes no custom header because sendBeacon cannot send one; the
// SameSite=Strict cookie keeps other sites from using it.
func (h *Handlers) chatExit(w http.ResponseWriter, r *http.Request) {
	if sid := h.chatSession(r); sid != "" {
		if err := h.web.Exit(r.Context(), sid); err != nil {
			h.log.WarnContext(r.Context(), "web chat exit", "request_id", requestID(r.Context()), "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: chatCookie, Value: "", Path: "/chat", MaxAge: -1, HttpOnly: true,
		Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	noStore(w)
	w.WriteHeader(http.StatusNoContent)
}

// privacyPage is the full privacy notice the first message links to, in
// Vietnamese or (?lang=en) English.
func (h *Handlers) privacyPage(w http.ResponseWriter, r *http.Request) {
	lang := h.chatLang(r)
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var paras []string
	for _, p := range strings.Split(h.web.Engine().PrivacyNotice(lang), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			paras = append(paras, p)
		}
	}
	other := "en"
	if lang == "en" {
		other = locales.Default
	}
	err := h.privTmpl.Execute(w, map[string]any{"Lang": lang, "Title": h.cat.T(lang, "privacy.title", nil),
		"Paras": paras, "Other": other, "OtherName": h.cat.T(other, "language.name", nil),
		"Back": h.cat.T(lang, "privacy.back", nil), "Exit": h.cat.T(lang, "web.exit", nil), "ExitURL": exitURL})
	if err != nil {
		h.log.ErrorContext(r.Context(), "render privacy", "request_id", requestID(r.Context()), "err", err)
	}
}

// chatPhoto takes a photo the page uploads at the report's photo question:
// the raw file as the body, the page's message ID in X-Tinbao-ID. Over
// media.MaxBytes → 413; anything but a JPEG or PNG (by its bytes, not its
// name or declared type) → 415; a sixth… eleventh photo → 409; each with a
// plain word in the person's language. The photo is cleaned here, at once,
// and kept sealed until the report is committed.
func (h *Handlers) chatPhoto(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, id string) {
		writeJSON(w, status, chatResponse{Error: id, Message: h.cat.T(h.chatLang(r), "web."+id,
			map[string]any{"MB": media.MaxBytes >> 20, "Count": flows.MaxMedia})})
	}
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, chatResponse{Error: "cross-site request refused"})
		return
	}
	sid := h.chatSession(r)
	if sid == "" {
		writeJSON(w, http.StatusForbidden, chatResponse{Error: "no conversation"})
		return
	}
	if r.ContentLength > media.MaxBytes {
		refuse(http.StatusRequestEntityTooLarge, "photo_too_big")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, media.MaxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuse(http.StatusRequestEntityTooLarge, "photo_too_big")
			return
		}
		writeJSON(w, http.StatusBadRequest, chatResponse{Error: "could not read body"})
		return
	}
	if !media.Cleanable(media.Sniff(body)) {
		refuse(http.StatusUnsupportedMediaType, "photo_type")
		return
	}
	p := media.Process(body)
	if p.Clean == nil { // broken, or a canvas over the pixel cap
		refuse(http.StatusUnsupportedMediaType, "photo_unreadable")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), handleTimeout)
	defer cancel()
	out, err := h.web.Photo(ctx, sid, r.Header.Get("X-Tinbao-ID"), web.Upload{ContentType: p.ContentType, Original: body,
		Clean: p.Clean, Width: p.Width, Height: p.Height})
	switch {
	case errors.Is(err, web.ErrBadInput):
		writeJSON(w, http.StatusBadRequest, chatResponse{Error: "malformed message"})
	case errors.Is(err, web.ErrTooManyUploads):
		refuse(http.StatusConflict, "photo_too_many")
	case err != nil:
		h.log.ErrorContext(r.Context(), "web chat photo failed", "request_id", requestID(r.Context()), "err", err)
		writeJSON(w, http.StatusServiceUnavailable, chatResponse{Replies: web.Replies(out.Replies),
			Error: "request " + requestID(r.Context())})
	default:
		writeJSON(w, http.StatusOK, chatResponse{Replies: web.Replies(out.Replies), Wipe: out.Wipe, Lang: out.Lang})
	}
}
