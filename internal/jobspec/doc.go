// Package jobspec reads and writes job specs in upstream Bacalhau's v1 shape (Type
// batch, Tasks with an Engine, InputSources, ResultPaths, Resources, Timeouts) and maps
// them to job.Spec, in this one place. It also reads this project's own spec and job
// record, so that `describe --output yaml` of any job can be submitted again.
//
//	d, err := jobspec.Decode(data)   // YAML or JSON; unknown fields fail with their path and line
//	// fetch d.URLInputs, fill their CIDs, then submit d.Spec
//	y, err := jobspec.EncodeYAML(jobspec.FromJob(j))
package jobspec
