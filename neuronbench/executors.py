"""Executors: where the grid's tasks run. The runner only calls ``submit`` and
``as_completed``; result records (and the embedding cache) are the only shared state.

- `ProcessExecutor` (the default where more than one core is available): one worker
  process per core, spawned for the grid, sharing the dataset's memory-map (see there
  why not threads).
- `InProcessExecutor` (``--jobs 1``, or one core): runs each task in this process when
  its result is asked for.
- `DaskExecutor`: a ``dask.distributed`` client, on
  - a local cluster (``--jobs N``: N worker processes, one task at a time each, BLAS and
    torch threads set to cores / N so that workers do not oversubscribe the machine),
  - an existing scheduler (``--scheduler tcp://host:port``), or
  - a ``dask-jobqueue`` cluster (SLURM, PBS, ...) described in a small YAML file
    (``--cluster FILE``, see `load_cluster_config`).

Tasks declare resources: pretraining of a torch method asks for ``{"GPU": 1}`` where
the cluster has GPUs (its workers then advertise ``GPU``), so it waits for a GPU worker;
CPU tasks (probes, CPU pretraining) ask for nothing and run on any worker.
A future passed as an argument of ``submit`` is a dependency: the task starts when it
is done and receives its result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from neuronbench.errors import NeuronbenchError

CLUSTER_CLASSES = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster",
                   "htcondor": "HTCondorCluster", "moab": "MoabCluster", "oar": "OARCluster"}
CLUSTER_KINDS = tuple(CLUSTER_CLASSES)


class _Deferred(Future):
    """A task that runs when its result is first asked for (in this process)."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]):
        super().__init__()
        self._call: tuple[Callable[..., Any], tuple[Any, ...]] | None = (fn, args)

    def result(self, timeout: float | None = None) -> Any:
        if self._call is not None:
            fn, args = self._call
            self._call = None
            try:
                self.set_result(fn(*[a.result() if isinstance(a, Future) else a for a in args]))
            except Exception as e:  # handed to the caller through the future
                self.set_exception(e)
            except BaseException as e:  # Ctrl-C, SystemExit: stop the grid here, at once
                self.set_exception(e)
                raise
        return super().result(timeout)


class InProcessExecutor:
    """Runs each task in this process when the runner asks for its result, in the order
    of `as_completed` (so progress is shown while the work runs, and Ctrl-C stops the
    grid at once: the task in progress is lost, nothing after it runs)."""

    gpus = 0

    def submit(self, fn: Callable[..., Any], *args: Any, resources: dict[str, float] | None = None,
               key: str | None = None) -> Future:
        return _Deferred(fn, args)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        return iter(list(futures))

    def close(self, interrupted: bool = False) -> None:
        pass


WORKER_START_HOLD_S = 0.2  # a start-up task's length: longer than launching the pool's processes takes


class ProcessExecutor:
    """Runs tasks on ``workers`` processes of this machine (``concurrent.futures``, spawned
    fresh), one task at a time each, a task as soon as the futures among its arguments
    are done (so a probe never holds a worker waiting for its embedding). Each worker
    opens the dataset itself: its arrays are memory-mapped, so the page cache holds them
    once for all workers.

    Processes, not threads of this process: a torch method seeds torch's process-global
    random generator (`neuronbench.device.seed_everything`) and draws from it (weight
    initialisation, dropout), so two fits on threads would draw from each other's
    streams, and records would depend on timing. Workers use ``threads`` BLAS / OpenMP
    threads (cores / workers) and ignore Ctrl-C (SIGINT); ``close(interrupted=True)``
    stops them with SIGTERM, which raises KeyboardInterrupt in a running task (its atomic
    writes clean up), and kills what is left after a few seconds.
    """

    gpus = 0
    STOP_WAIT_S = 10.0

    def __init__(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        threads = max(1, available_cores() // workers)
        # spawn: no copy of this process's threads and locks (fork), a fresh torch
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_process_worker_init, initargs=(threads,))
        self.workers = workers
        # Start every worker now, from this thread with Ctrl-C blocked (a worker the pool
        # starts later from a callback thread would see a Ctrl-C before its initializer
        # runs): each start-up task holds its worker until all have been launched.
        with _sigint_blocked():
            started = [self._pool.submit(time.sleep, WORKER_START_HOLD_S) for _ in range(workers)]
        for future in started:
            future.result()

    def submit(self, fn: Callable[..., Any], *args: Any, resources: dict[str, float] | None = None,
               key: str | None = None) -> Future:
        outer: Future = Future()
        deps = [a for a in args if isinstance(a, Future)]
        waiting = [len(deps)]
        lock = threading.Lock()

        def launch() -> None:
            try:
                values = [a.result() if isinstance(a, Future) else a for a in args]
                inner = self._pool.submit(_process_task, fn, *values)  # every worker started in __init__
            except BaseException as e:  # a failed dependency, or the pool is shut down
                outer.set_exception(e)
                return
            inner.add_done_callback(lambda f: _copy_outcome(f, outer))

        def dependency_done(_: Future) -> None:
            with lock:
                waiting[0] -= 1
                ready = waiting[0] == 0
            if ready:
                launch()

        if not deps:
            launch()
        for dep in deps:
            dep.add_done_callback(dependency_done)
        return outer

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        from concurrent.futures import as_completed

        return as_completed(list(futures))

    def close(self, interrupted: bool = False) -> None:
        """Wait for the tasks and stop the workers; ``interrupted``: at once (see above)."""
        if not interrupted:
            self._pool.shutdown(wait=True)
            return
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(Exception):
                process.terminate()  # SIGTERM
        deadline = time.monotonic() + self.STOP_WAIT_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()


def _copy_outcome(source: Future, target: Future) -> None:
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


_WORKER = {"running": False, "stopping": False}  # in a `ProcessExecutor` worker: its task, and SIGTERM


def _process_worker_init(threads: int) -> None:
    """Set up a `ProcessExecutor` worker: BLAS / OpenMP threads, Ctrl-C ignored, SIGTERM
    stopping the running task with KeyboardInterrupt (then the worker: tasks already
    queued for it do not start), or the idle worker at once."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if "numpy" in sys.modules:  # already loaded by the spawn start: too late for the variables
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(signum: int, frame: Any) -> None:
        _WORKER["stopping"] = True
        if _WORKER["running"]:
            raise KeyboardInterrupt
        os._exit(1)

    signal.signal(signal.SIGTERM, stop)


def _process_task(fn: Callable[..., Any], *args: Any) -> Any:
    _WORKER["running"] = True
    try:
        return fn(*args)
    except BaseException:
        if _WORKER["stopping"]:  # the task has cleaned up (atomic writes): end here
            os._exit(1)
        raise
    finally:
        _WORKER["running"] = False


class DaskExecutor:
    """A ``dask.distributed`` client (and the cluster it started, if any)."""

    def __init__(self, client: Any, cluster: Any = None, gpus: int = 0):
        self.client, self.cluster, self.gpus = client, cluster, gpus

    def submit(self, fn: Callable[..., Any], *args: Any, resources: dict[str, float] | None = None,
               key: str | None = None) -> Any:
        return self.client.submit(fn, *args, resources=resources, key=key, pure=False, retries=1)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        from distributed import as_completed

        return iter(as_completed(list(futures)))

    def close(self, interrupted: bool = False) -> None:
        """Close the client and the cluster we started. ``interrupted``: quickly and
        quietly (no shutdown warnings of workers stopped mid-task, no error if the
        cluster takes longer than a few seconds: the process is exiting)."""
        if not interrupted:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()
            return
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        for closable in (self.client, self.cluster):
            if closable is not None:
                with contextlib.suppress(Exception):
                    closable.close(timeout=5)


# Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (its
# ``distributed.nanny.pre-spawn-environ``), so glibc hands freed memory back to the
# kernel at every free of more than 64 KiB. PyTorch's CPU training loops allocate and free
# such buffers at every step: measured here, a LOLCAT fit took 8.6 s with glibc's default,
# 19.4 s with 64 KiB and 15.8 s with 128 MiB (setting it at all also turns off glibc's
# adaptive mmap threshold), and ~4x longer with two such workers, in kernel time.
# Workers we start keep glibc's default (the variable is not set).
WORKER_ENVIRON_DROP = ("MALLOC_TRIM_THRESHOLD_",)


def worker_environ(threads: int) -> dict[str, Any]:
    """The environment Dask's nanny sets before it starts a worker: BLAS / OpenMP threads,
    and Dask's other defaults but for `WORKER_ENVIRON_DROP`."""
    import dask
    import distributed  # noqa: F401 - loads the distributed config

    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if k not in WORKER_ENVIRON_DROP}
    return {**environ, **{v: threads for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}


def local_dask(jobs: int) -> DaskExecutor:
    """A local cluster of ``jobs`` worker processes, one thread each, sharing the cores."""
    import dask
    from distributed import Client, LocalCluster

    threads = max(1, (os.cpu_count() or 1) // jobs)
    executor = None
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ(threads)}), _sigint_blocked():
            # workers log only critical errors: a task's error is in its run's record, and
            # a worker stopped by Ctrl-C would print heartbeat errors while the cluster closes
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.CRITICAL)
            executor = DaskExecutor(Client(cluster), cluster)
    except KeyboardInterrupt:  # Ctrl-C while the cluster started: it arrives here
        if executor is not None:
            executor.close(interrupted=True)
        raise
    return executor


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Ignore Ctrl-C (SIGINT) while the cluster starts, so that the worker processes
    start with it ignored (an ignored signal stays ignored across exec, and Python keeps
    it so): a Ctrl-C in the terminal then reaches only this process, which closes the
    cluster, instead of printing a traceback from every worker. This thread blocks it
    meanwhile, so a Ctrl-C pressed during those seconds is delivered here when they end
    if the kernel queued it for this thread (it may hand it to another thread of this
    process, where it is lost: press again)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def load_cluster_config(path: Path) -> dict[str, Any]:
    """Read a dask-jobqueue cluster description, e.g.::

        kind: slurm          # slurm, pbs, sge, lsf, htcondor, moab or oar
        jobs: 8              # how many batch jobs (one Dask worker each)
        queue: gpu
        cores: 8
        memory: 32GB
        gpus: 1              # per job; workers then advertise the GPU resource
        walltime: "04:00:00"
        job_extra_directives: ["--gres=gpu:1"]
    """
    import yaml

    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise NeuronbenchError(f"{path}: not a readable cluster config ({e})") from None
    if not isinstance(config, dict):
        raise NeuronbenchError(f"{path}: expected a mapping of cluster settings")
    if config.get("kind") not in CLUSTER_KINDS:
        raise NeuronbenchError(f"{path}: field 'kind': expected one of {CLUSTER_KINDS}, got {config.get('kind')!r}")
    for field in ("cores", "memory"):
        if field not in config:
            raise NeuronbenchError(f"{path}: field {field!r} is required")
    return config


def jobqueue_dask(path: Path) -> DaskExecutor:
    """A dask-jobqueue cluster from a config file (see `load_cluster_config`)."""
    config = load_cluster_config(path)
    try:
        import dask_jobqueue
    except ImportError:
        raise NeuronbenchError("--cluster needs dask-jobqueue: pip install 'neuronbench[cluster]'") from None
    from distributed import Client

    kind = config.pop("kind")
    jobs = int(config.pop("jobs", 1))
    gpus = int(config.pop("gpus", 0))
    cls = getattr(dask_jobqueue, CLUSTER_CLASSES[kind])
    extra = list(config.pop("worker_extra_args", [])) + (["--resources", f"GPU={gpus}"] if gpus else [])
    cluster = cls(processes=1, worker_extra_args=extra, **config)
    cluster.scale(jobs=jobs)
    return DaskExecutor(Client(cluster), cluster, gpus=gpus)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a batch scheduler or
    ``taskset`` may restrict), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def make_executor(jobs: int | None = None, scheduler: str | None = None, cluster: Path | None = None) -> Any:
    """The executor the options ask for. ``jobs``: 1 in this process, N > 1 a local Dask
    cluster of N processes; None (not given): a `ProcessExecutor` of one worker per
    available core when no scheduler or cluster is given and there is more than one."""
    if sum(bool(x) for x in ((jobs or 1) > 1, scheduler, cluster)) > 1:
        raise NeuronbenchError("choose one of --jobs N (N > 1), --scheduler and --cluster")
    if scheduler:
        from distributed import Client

        try:
            client = Client(scheduler, timeout="20s")
        except OSError as e:
            raise NeuronbenchError(f"--scheduler {scheduler}: cannot connect ({e})") from None
        gpus = sum(1 for w in client.scheduler_info()["workers"].values() if w.get("resources", {}).get("GPU"))
        return DaskExecutor(client, gpus=gpus)
    if cluster:
        return jobqueue_dask(cluster)
    if jobs is not None and jobs > 1:
        return local_dask(jobs)
    if jobs is None and not (scheduler or cluster) and available_cores() > 1:
        return ProcessExecutor(available_cores())
    return InProcessExecutor()
