package flows

import "tinbao/locales"

// command is what an input asks for regardless of the step it arrives at.
type command int

const (
	cmdNone command = iota
	cmdMenu
	cmdReport
	cmdCancel
)

// Choice IDs shared by every flow.
const (
	choiceReport = "m:report"
	choiceSkip   = "skip"
	choiceSend   = "send"
	choiceCancel = "cancel"
)

// commandWords maps folded text (see locales.Fold) to a command: Telegram
// commands and the SMS keywords of the contract, matched without case or
// diacritics.
var commandWords = map[string]command{
	"/start":  cmdMenu,
	"/menu":   cmdMenu,
	"menu":    cmdMenu,
	"/baotin": cmdReport,
	"bao tin": cmdReport,
	"to giac": cmdReport,
	"/huy":    cmdCancel,
	"huy":     cmdCancel,
	"huy bo":  cmdCancel,
}

func commandOf(in Input) command {
	switch in.Choice {
	case choiceReport:
		return cmdReport
	case choiceCancel:
		return cmdCancel
	}
	key := locales.Fold(in.Text)
	// A command may carry more words, and in groups the bot's name
	// ("/start@tinbao_bot" folds to "/start tinbao bot"): keep the command.
	if len(key) > 0 && key[0] == '/' {
		for i := 0; i < len(key); i++ {
			if key[i] == ' ' {
				key = key[:i]
				break
			}
		}
	}
	return commandWords[key]
}
