package job

// Reasons a job or an execution records when it does not complete, shared by the
// requester (which writes them into its jobs) and the compute side (which ends its
// executions with them).
const (
	ReasonNodeStopped = "node stopped while the job was running"
	ReasonCancelled   = "cancelled by the user"
)
