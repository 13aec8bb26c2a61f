package main

import (
	"context"
	"errors"
	"time"

	"tinbao/bot"
	"tinbao/bot/telegram"
	"tinbao/bot/web"
	"tinbao/flows"
	"tinbao/media"
	"tinbao/storage"
)

// The bot defines the small interfaces it needs; these adapters fit storage
// to them and translate storage's sentinel errors into the bot's.

type sessionStore struct{ s *storage.Sessions }

func (a sessionStore) Begin(ctx context.Context, channel, messageID, sender, token string, pos int64) (bot.Begun, error) {
	b, err := a.s.BeginAt(ctx, channel, messageID, sender, token, pos)
	switch {
	case errors.Is(err, storage.ErrDuplicate):
		return bot.Begun{}, bot.ErrDuplicate
	case errors.Is(err, storage.ErrBusy):
		return bot.Begun{}, bot.ErrBusy
	}
	return bot.Begun{Session: b.Session, Recent: b.Recent, Turns: b.Turns, First: b.First, Last: b.Last, Thread: b.Thread}, err
}

func (a sessionStore) Finish(ctx context.Context, channel, messageID, sender, token string, s flows.Session, fast bool,
	replies int) (time.Duration, error) {
	wait, err := a.s.Finish(ctx, channel, messageID, sender, token, s, fast, replies)
	if errors.Is(err, storage.ErrLockLost) {
		return 0, bot.ErrBusy // nothing saved: the provider's retry runs again
	}
	return wait, err
}

func (a sessionStore) Release(ctx context.Context, sender, token string) error {
	return a.s.Release(ctx, sender, token)
}

func (a sessionStore) Forget(ctx context.Context, sender string) error {
	return a.s.Forget(ctx, sender)
}

func (a sessionStore) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, error) {
	return a.s.Allow(ctx, key, limit, window)
}

func (a sessionStore) AllowEach(ctx context.Context, limits []bot.Limit) (int, error) {
	ls := make([]storage.Limit, len(limits))
	for i, l := range limits {
		ls[i] = storage.Limit{Key: l.Key, N: l.N, Window: l.Window}
	}
	return a.s.AllowEach(ctx, ls)
}

// alarmStore keeps watched alarms in Postgres.
type alarmStore struct{ db *storage.DB }

func (a alarmStore) WatchAlarm(ctx context.Context, channel, sender string, due time.Time, alert *bot.Alert) error {
	return a.db.WatchAlarm(ctx, channel, sender, due, storageAlert(alert))
}

// storageAlert is the officers' page a bot asks for, as storage queues it
// (nil for none).
func storageAlert(a *bot.Alert) *storage.Alert {
	if a == nil {
		return nil
	}
	return &storage.Alert{Channel: a.Channel, Pseudonym: a.Pseudonym, Sealed: a.Sealed, Body: a.Body}
}

func (a alarmStore) DueAlarms(ctx context.Context, limit int, lease time.Duration) ([]bot.Alarm, error) {
	due, err := a.db.DueAlarms(ctx, limit, lease)
	out := make([]bot.Alarm, len(due))
	for i, d := range due {
		out[i] = bot.Alarm{ID: d.ID, Channel: d.Channel, Sender: d.Sender}
	}
	return out, err
}

func (a alarmStore) PostponeAlarm(ctx context.Context, id int64, due time.Time) error {
	return a.db.PostponeAlarm(ctx, id, due)
}

func (a alarmStore) SettleAlarm(ctx context.Context, id int64) (string, error) {
	return a.db.SettleAlarm(ctx, id)
}

func (a alarmStore) DropAlarm(ctx context.Context, channel, sender string) error {
	return a.db.DropAlarm(ctx, channel, sender)
}

func (a alarmStore) FiledAlarm(ctx context.Context, id int64) error { return a.db.FiledAlarm(ctx, id) }

func (a alarmStore) FiledSince(ctx context.Context, channel, sender string, since time.Time) (bool, error) {
	return a.db.AlarmFiledSince(ctx, channel, sender, since)
}

func (a alarmStore) Reported(ctx context.Context, id int64) bool {
	yes, err := a.db.AlarmReported(ctx, id)
	return err == nil && yes
}

type tipStore struct{ db *storage.DB }

func (a tipStore) Commit(ctx context.Context, s bot.Submission) error {
	n := storage.NewTip{
		Report:          s.Report,
		Channel:         s.Channel,
		SenderPseudonym: s.Sender,
		SourceMessageID: s.SourceMessageID,
		Handle:          s.Handle,
		Alert:           storageAlert(s.Alert),
	}
	_, err := a.db.CommitTip(ctx, n)
	switch {
	case errors.Is(err, storage.ErrDuplicate):
		return bot.ErrDuplicate
	case errors.Is(err, storage.ErrReferenceTaken):
		return bot.ErrReferenceTaken
	}
	return err
}

func (a tipStore) Status(ctx context.Context, ref flows.Reference, owners []string) (string, error) {
	status, err := a.db.TipStatusForSender(ctx, string(ref), owners)
	if errors.Is(err, storage.ErrNotFound) {
		return "", bot.ErrNotFound
	}
	return status, err
}

func (a tipStore) OpenThread(ctx context.Context, sender string) (flows.Reference, error) {
	ref, err := a.db.OpenThread(ctx, sender)
	if errors.Is(err, storage.ErrNotFound) {
		return "", bot.ErrNotFound
	}
	return flows.Reference(ref), err
}

func (a tipStore) AppendReply(ctx context.Context, ref flows.Reference, sender, channel, sourceID, text string) error {
	err := a.db.AppendReply(ctx, string(ref), sender, channel, sourceID, text)
	if errors.Is(err, storage.ErrNotFound) {
		return bot.ErrNotFound
	}
	return err
}

// replyQueue fits storage to bot.ReplyQueue.
type replyQueue struct{ db *storage.DB }

func (q replyQueue) QueueReply(ctx context.Context, channel, pseudonym string, sealed []byte, lang, body string) error {
	_, err := q.db.QueueReply(ctx, channel, pseudonym, sealed, lang, body)
	return err
}

// dataStore fits storage to bot.DataRequests.
type dataStore struct{ db *storage.DB }

func (a dataStore) Record(ctx context.Context, r bot.DataRequest) (*flows.Holding, error) {
	h, err := a.db.RecordDataRequest(ctx, storage.NewDataRequest{Reference: string(r.Reference), Kind: r.Kind,
		Channel: r.Channel, Requester: r.Sender, Owners: r.Owners, Sealed: r.Sealed, Language: r.Lang, SourceMessageID: r.SourceMessageID})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, bot.ErrNotFound
	}
	return h, err
}

// telegramFiles fits the Telegram adapter to media.Downloader.
type telegramFiles struct{ tg *telegram.Adapter }

func (f telegramFiles) Download(ctx context.Context, fileID string, max int64) ([]byte, error) {
	data, err := f.tg.Download(ctx, fileID, max)
	if errors.Is(err, telegram.ErrFileTooBig) {
		return nil, media.ErrTooBig
	}
	return data, err
}

// uploadStore fits storage to web.Uploads.
type uploadStore struct{ db *storage.DB }

func (u uploadStore) KeepUpload(ctx context.Context, sender string, up web.Upload) (string, error) {
	id, err := u.db.KeepUpload(ctx, sender, storage.MediaFile{Kind: "photo", Original: up.Original,
		ContentType: up.ContentType, Clean: up.Clean, Width: up.Width, Height: up.Height})
	if errors.Is(err, storage.ErrTooManyUploads) {
		return "", web.ErrTooManyUploads
	}
	return id, err
}

func (u uploadStore) ForgetUploads(ctx context.Context, sender string) error {
	return u.db.ForgetUploads(ctx, sender)
}
