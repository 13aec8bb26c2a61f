package flows

// The report flow: a citizen's tip. Every question but "what happened" can be
// skipped, and nothing asks who the reporter is.

const reportFlowName = "report"

func reportFlow() *flow {
	return &flow{
		name: reportFlowName,
		kind: KindTip,
		ack:  "ack.tip",
		steps: []step{
			{id: "what", prompt: "report.what", input: inputText},
			{id: "where", prompt: "report.where", input: inputText, optional: true},
			{id: "summary", prompt: "report.summary", input: inputSummary},
		},
	}
}
