package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"

	"tinbao/bot/telegram"
)

// telegramWebhook takes updates from Telegram. Telegram retries anything but
// a 2xx for up to a day, so: wrong secret → 401, too big → 413, not an update
// → 400, could not be made durable → 503 (Telegram sends it again), handled or
// deliberately dropped → 200.
func (h *Handlers) telegramWebhook(w http.ResponseWriter, r *http.Request) {
	if h.telegram == nil || h.cfg.TelegramWebhookSecret == "" {
		fail(w, r, http.StatusNotFound, "telegram webhook is not enabled")
		return
	}
	got := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
	if subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.TelegramWebhookSecret)) != 1 {
		fail(w, r, http.StatusUnauthorized, "wrong or missing secret token")
		return
	}
	body, ok := readWebhook(w, r)
	if !ok {
		return
	}
	u, err := telegram.ParseUpdate(body)
	if err != nil {
		fail(w, r, http.StatusBadRequest, "not a Telegram update")
		return
	}
	// Telegram waits up to 60 s for an answer; stay well inside it.
	ctx, cancel := context.WithTimeout(r.Context(), handleTimeout)
	defer cancel()
	call, err := h.telegram.HandleUpdate(ctx, u)
	if err != nil {
		h.log.ErrorContext(ctx, "telegram update failed", "request_id", requestID(r.Context()), "update_id", u.ID, "err", err)
		fail(w, r, http.StatusServiceUnavailable, "temporarily unavailable, please retry")
		return
	}
	if call == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	// The turn's last reply rides on the answer: Telegram makes the call
	// (the Bot API's "reply to a webhook"), and the request waits for no
	// call of ours to the Bot API.
	body, err = json.Marshal(call)
	if err != nil {
		w.WriteHeader(http.StatusOK) // the effect is durable: never ask for a retry now
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}
