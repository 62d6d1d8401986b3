// Package dockerfallback is the executor of Docker jobs (job.EngineDocker): an OCI
// image run by the Docker engine, through its Go client, against IPFS inputs
// materialised on disk, with hardened defaults (no network, no capabilities, no new
// privileges, pids, memory and CPU limits, a read-only root file system, a non-root
// user where the image names none).
//
//	x, err := dockerfallback.New(ctx, dockerfallback.Options{Dir: "/repo/docker", Owner: "/repo"})
//	res, err := x.Execute(ctx, task) // task.Spec.Docker says what to run
//	x.Close(ctx)
//
// Every container is labelled with its job, execution and owner (the node), and
// removed when it ends, and at start-up when a crash left it behind.
package dockerfallback
