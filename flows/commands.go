package flows

import (
	"strings"

	"tinbao/locales"
)

// command is what an input asks for regardless of the step it arrives at.
type command int

const (
	cmdNone command = iota
	cmdMenu
	cmdReport
	cmdHelp
	cmdStatus
	cmdCancel
	cmdWipe
	cmdLanguage
	cmdEmergency
	cmdAgain
	cmdData
	// cmdNews: "có tin gì chưa?" (any news?) with no request under way: a
	// family asking about their report. It asks for the code, as TRA CUU.
	cmdNews
	// cmdEnglish: "English please", "I don't speak Vietnamese": the
	// conversation goes on in English, where it was.
	cmdEnglish
)

// Choice IDs shared by every flow. They travel as Telegram callback data, so
// they stay short and never carry text a person typed.
const (
	choiceMenu      = "m:menu"
	choiceReport    = "m:report"
	choiceHelp      = "m:help"
	choiceStatus    = "m:status"
	choiceEmergency = "m:sos"
	choiceLanguage  = "m:lang"
	choiceSkip      = "skip"
	choiceSend      = "send"
	choiceEdit      = "edit"
	choiceCancel    = "cancel"
	choiceCancelYes = "cancel!" // confirmed, after Huỷ on a summary
	choiceDone      = "done"
	choiceResume    = "resume"
	choiceAgain     = "m:again" // ask the pending question again (the web page after reloading)
	choiceKeep      = "keep"    // keep an answer as it was, when editing
	choiceBack      = "back"    // leave the edit list
	choiceRestart   = "restart"
	choiceNext      = "next" // the story is told: the next question
	langPrefix      = "lang:"
	editPrefix      = "edit:"
)

// ChoiceAgain is what the web page sends when it opens: ask the pending
// question again, or, with nothing pending, show the menu. Without a session
// it needs none: the web chat answers it without making one.
const ChoiceAgain = choiceAgain

// commandWords maps folded text (see locales.Fold) to a command: Telegram
// commands and the SMS keywords of the contract, matched without case or
// diacritics. A command may be followed by more words (TRA CUU <code>).
var commandWords = []struct {
	words string
	cmd   command
}{
	{"/start", cmdMenu}, {"/menu", cmdMenu}, {"menu", cmdMenu}, {"bat dau", cmdMenu}, {"start", cmdMenu},
	{"bao viec khac", cmdMenu},
	{"/baotin", cmdReport}, {"bao tin", cmdReport}, {"to giac", cmdReport},
	{"/giup", cmdHelp}, {"giup", cmdHelp}, {"cuu", cmdHelp}, {"help", cmdHelp}, {"giup do", cmdHelp},
	{"can giup do", cmdHelp}, {"can giup", cmdHelp}, {"tro giup", cmdHelp}, // "trợ giúp" got "pick a number" (SMS trial)
	{"/tracuu", cmdStatus}, {"tra cuu", cmdStatus}, {"tracuu", cmdStatus}, {"tra cu", cmdStatus},
	{"co tin gi chua", cmdNews}, {"co tin gi khong", cmdNews}, {"co tin gi moi chua", cmdNews},
	{"co tin gi moi khong", cmdNews}, {"da co tin gi chua", cmdNews}, {"co tin chua", cmdNews},
	{"co ket qua chua", cmdNews}, {"any news", cmdNews},
	{"english", cmdEnglish}, {"in english", cmdEnglish}, {"english please", cmdEnglish},
	{"please english", cmdEnglish}, {"tieng anh", cmdEnglish}, {"i dont speak vietnamese", cmdEnglish},
	{"i don t speak vietnamese", cmdEnglish}, {"sorry i dont speak vietnamese", cmdEnglish},
	{"sorry i don t speak vietnamese", cmdEnglish}, {"i do not speak vietnamese", cmdEnglish},
	{"do you speak english", cmdEnglish}, {"speak english", cmdEnglish}, {"i cant speak vietnamese", cmdEnglish},
	{"i can t speak vietnamese", cmdEnglish}, {"i cannot speak vietnamese", cmdEnglish},
	{"/huy", cmdCancel}, {"huy", cmdCancel}, {"huy bo", cmdCancel},
	{"thoi khong bao nua", cmdCancel}, {"khong bao nua", cmdCancel}, {"thoi khong bao", cmdCancel},
	{"thoi khong gui nua", cmdCancel}, {"khong gui nua", cmdCancel}, {"thoi huy", cmdCancel},
	{"/xoa", cmdWipe}, {"xoa", cmdWipe}, {"thoat", cmdWipe},
	{"/ngonngu", cmdLanguage}, {"ngon ngu", cmdLanguage}, {"language", cmdLanguage},
	{"/dulieu", cmdData}, {"du lieu", cmdData}, {"dulieu", cmdData},
	{"/khancap", cmdEmergency}, {"so khan cap", cmdEmergency}, {"khan cap", cmdEmergency}, {"sos", cmdEmergency},
}

// Commands that must stand alone: a sentence that starts with "giúp" or
// "huỷ" is an answer, not a command ("giúp tôi với" is caught as danger).
var aloneOnly = map[command]bool{cmdHelp: true, cmdCancel: true, cmdWipe: true, cmdMenu: true,
	cmdReport: true, cmdLanguage: true, cmdEmergency: true, cmdNews: true, cmdEnglish: true}

// commandOf finds the command in an input and what follows it; k are the
// keys of in.Text.
func commandOf(in Input, k keys) (command, string) {
	switch in.Choice {
	case choiceAgain:
		return cmdAgain, ""
	case choiceMenu:
		return cmdMenu, ""
	case choiceReport:
		return cmdReport, ""
	case choiceHelp:
		return cmdHelp, ""
	case choiceStatus:
		return cmdStatus, ""
	case choiceEmergency:
		return cmdEmergency, ""
	case choiceLanguage:
		return cmdLanguage, ""
	case choiceData:
		return cmdData, ""
	case choiceCancel, choiceCancelYes:
		return cmdCancel, ""
	}
	if in.Choice != "" {
		return cmdNone, ""
	}
	for _, key := range k.both() {
		// "/start@tinbao_bot" folds to "/start tinbao bot": in groups
		// Telegram appends the bot's name to commands.
		if strings.HasPrefix(key, "/") {
			if i := strings.IndexByte(key, ' '); i > 0 && strings.Contains(in.Text, "@") {
				key = key[:i]
			}
		}
		for _, cw := range commandWords {
			if key == cw.words {
				return cw.cmd, ""
			}
			// The words, then a space (without building words+" " for
			// each command on every message).
			if rest, ok := strings.CutPrefix(key, cw.words); ok && strings.HasPrefix(rest, " ") && !aloneOnly[cw.cmd] {
				rest = rest[1:]
				// Keep what follows as typed, for codes: cut the same
				// number of words from the original text.
				rest = afterWords(in.Text, strings.Count(cw.words, " ")+1, rest)
				if cw.cmd == cmdData && !LooksLikeReference(rest) {
					continue // "dữ liệu của tôi bị lộ" is words, not a request
				}
				return cw.cmd, rest
			}
		}
	}
	return cmdNone, ""
}

// afterWords returns text without its first n words, falling back to the
// folded rest when the original cannot be split the same way.
func afterWords(text string, n int, folded string) string {
	f := strings.Fields(text)
	if len(f) > n {
		return strings.Join(f[n:], " ")
	}
	return folded
}

// dangerPhrases, folded, signal someone in danger now at any step: the
// emergency numbers are shown at once and the report is marked urgent. They
// are matched as whole words, with and without diacritics or Telex residue,
// in Vietnamese, English and common teen code ("e" for em, "k"/"ko"/"hok"
// for không, "j"/"z" for gi, "vs" for với). A false alarm costs an urgent
// flag; a missed one can cost a life. Each has a line in
// testdata/danger_phrases.txt.
var dangerPhrases = []string{
	// asking to be saved
	"cuu toi", "cuu voi", "cuu em", "cuu e", "cuu con", "cuu chau", "cuu tui", "cuu minh", "cuu chung toi",
	"cuu toi voi", "cuu em voi", "cuu e voi", "cuu e vs", "cuu voi", "cuu vs", "ciu", "ciu e", "cuuu", "cuuuu",
	"giup toi voi", "giup em voi", "giup e voi", "giup e vs", "jup e vs", "zup e vs", "jup e voi", "zup e voi",
	"jup voi", "zup voi", "jup vs", "zup vs", "giup voi", "giup vs",
	// locked in, held
	"bi nhot", "bi giam", "bi nhot giu", "bi khoa trong", "bi khoa cua", "bi giu", "bi giu lai", "bi bat giu",
	"nhot toi", "nhot em", "nhot e", "nhot con", "nhot chung toi", "giam toi", "giam em",
	"khong cho ve", "khong duoc ve", "khong cho di", "k cho ve", "ko cho ve", "hok cho ve", "kg cho ve",
	"khong cho ra", "ko cho ra", "k cho ra", "khong thoat ra duoc", "khong the ve", "khong ve duoc",
	// beaten, hurt
	"bi danh", "dang bi danh", "bi danh dap", "bi tra tan", "bi chich dien", "danh toi", "danh em", "danh e",
	"bi hanh ha", "bi de doa", "doa giet",
	// sold, tricked, taken
	// ("ban" alone is also "bạn", a friend: "bạn tôi" is not "bán tôi")
	"bi ban", "bi ban sang", "bi ban qua", "ho ban toi", "ho ban em", "ho ban e", "ho ban con", "no ban toi",
	"no ban em", "da ban toi", "da ban em", "bi lua ban", "lua ban", "bi lua sang", "lua sang",
	"bi dua sang", "bi bat coc", "bi bat di", "bi bat coc di", "mua ban nguoi",
	// documents, debt, ransom
	"giu ho chieu", "lay ho chieu", "thu ho chieu", "tich thu ho chieu", "bi giu ho chieu", "giu giay to",
	"lay giay to", "bi giu giay to", "bat tra no", "ep tra no", "no khong tra duoc", "doi tien moi cho ve",
	"tra tien moi cho ve", "doi tien chuoc", "tien chuoc", "chuoc nguoi", "chuoc ve", "doi chuoc",
	"dang gap nguy hiem", "nguy hiem lam", "gap nguy hiem",
	"giu cmnd", "giu cccd", "giu can cuoc", "lay cmnd", "lay cccd", "thu cmnd", "giu chung minh",
	// forced into sex work, marriage, scams ("tiếp khách" alone is only
	// receiving guests)
	"ep ban dam", "bi ep ban dam", "ep tiep khach", "bi ep tiep khach", "ep di khach", "bi ep di khach",
	"ep lam gai", "bi ep lam gai", "bi ep cuoi", "ep lay chong", "bi ep lay chong", "bi ep lua dao",
	// English
	"help me", "save me", "please help me", "locked up", "locked in", "being beaten", "beaten", "held captive",
	"kidnapped", "ransom", "won t let me go", "not allowed to leave", "trapped", "sold me", "i was sold",
	"been sold", "they sold", "trafficked", "took my passport", "taken my passport", "debt bondage",
	"took her passport", "took his passport", "took our passports", "took their passports", "is held",
	"are held", "being held", "held hostage", "held against", "can t leave", "cannot leave",
	"won t let her go", "won t let him go", "locked her", "locked him", "beat her", "beat him",
}

var dangerPadded = padded(dangerPhrases)

// englishWords, common in English and not Vietnamese words once folded,
// tell a first message written in English ("my sister is held in Myanmar,
// please help"): the answer is in English, not in words the person cannot
// read. Words that, folded, are Vietnamese too are left out: "the" (thế),
// "my" (Mỹ), "in", "he" (hè), "son" (sơn), "don" (đơn, đón), "not" (nốt),
// "me" (mẹ), "can" (cần), "to" (tờ), "that" (thật).
var englishWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`i is are was were her his they she we you please help sister brother daughter
		mother father and of for from been dont cannot cant with what where how hello have will would this friend
		wife husband took passport job work police missing know went want now money`) {
		englishWords[w] = true
	}
}

// looksEnglish says whether text reads as English: at least three of its
// words English, and most of them.
func looksEnglish(k keys) bool {
	words := strings.Fields(k.fold())
	n := 0
	for _, w := range words {
		if englishWords[w] {
			n++
		}
	}
	return n >= 3 && 2*n >= len(words)
}

// InDanger reports whether a message carries a danger phrase ("cứu tôi",
// "bị nhốt", …), written with marks or without: for an adapter that must
// decide before the conversation does (a call for help ends an SMS
// opt-out).
func InDanger(text string) bool { return inDanger(keysOf(locales.Clean(text))) }

// inDanger reports whether a message, by its keys, carries a danger phrase.
func inDanger(k keys) bool { return k.text != "" && k.has(dangerPadded) }

// midRequest says whether a flow is under way: an opt-out there keeps the
// draft, and BAT DAU takes it up again (see resume).
func (c *turn) midRequest() bool { return c.e.flows[c.s.Flow] != nil }

// stopWord says whether an SMS is the opt-out word DUNG alone, as people
// write it: any case, a full stop or an exclamation mark after it. "đúng"
// and "dừng" written with their marks are not it (the SMS adapter takes
// "dừng" itself).
func stopWord(text string) bool {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(text), ".!")) == "dung"
}
