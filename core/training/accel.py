"""The engine's fast path: a whole training step replayed as one CUDA graph (optionally compiled).

Why: one step of a LeNet-sized network launches a hundred-odd small kernels (gather, convert,
forward, backward, optimiser update). On a GPU each launch from Python costs several µs, more
than the kernel itself runs, so an eager loop leaves the chip idle most of the time. Here the
step is captured once with ``torch.cuda.graph`` and then replayed with a single launch:

    per step (host):   copy the next B source/target indices into static index buffers,
                       write progress p into a 0-d device tensor, replay the graph,
                       clone its (K,) vector of loss terms
    inside the graph:  x = images[idx].float() / 255 (uint8 data resident on the device)
                       → method.train_step(Batch(x_s, y_s, x_t, y_t), p)
                         (autocast forward, backward, fused capturable optimiser update)

Requirements, met by methods that set ``graph_safe = True``: no data-dependent Python branches
and no host reads inside the step (``progress`` is used only through tensor operations), and an
optimiser built with ``Context.capturable`` so its step count and learning rate live on the device.

With ``accel="compile"`` the engine first passes the method's loss (the forward) through
``torch.compile``, which fuses the elementwise work into a few Triton kernels; compilation takes
tens of seconds once per process, so it pays off only for long or large-batch runs.

The first ``eager_steps`` steps run eagerly on a side stream (as the CUDA-graph docs require, so
that lazy initialisation and autotuning happen outside the capture); they are real training
steps of the run, not thrown away. Batches come from :class:`core.data.sampling.IndexSampler` with the
device's random stream, so a graphed run sees other batches than an eager run of the same seed: equal in
distribution, not bit for bit.
"""

from __future__ import annotations

import torch

from ..methods import Batch, Method
from ..data.sampling import IndexSampler
from ..util.modes import unit_float

ACCEL_CHOICES = ("auto", "off", "graph", "compile")


def resolve_accel(name: str, device: torch.device, method_cls: type[Method]) -> str:
    """``auto`` → ``graph`` for graph-safe methods on CUDA, else ``off``; explicit names are checked.

    ``graph``: capture the step in a CUDA graph; ``compile``: torch.compile the loss, and on CUDA
    capture the step too (on CPU the compiled step runs eagerly); ``off``: the plain eager loop.
    """
    if name not in ACCEL_CHOICES:
        raise ValueError(f"unknown accel {name!r}; choose one of {', '.join(ACCEL_CHOICES)}")
    if name == "auto":
        return "graph" if device.type == "cuda" and method_cls.graph_safe else "off"
    if name in ("graph", "compile") and device.type == "cuda" and not method_cls.graph_safe:
        raise ValueError(f"method {method_cls.name!r} cannot be captured in a CUDA graph "
                         "(its step branches on data); use accel='off' or 'auto'")
    if name == "graph" and device.type != "cuda":
        raise ValueError(f"accel='graph' needs a CUDA device, not {device.type!r}; use 'auto' or 'off'")
    return name


class GraphedStep:
    """One training step of ``method`` over resident data, captured as a CUDA graph and replayed.

    ``source`` / ``target`` are ``(images uint8 (N, 3, H, W), labels (N,))`` already on the device.
    ``__call__(progress)`` runs one step and returns the loss terms as a dict of 0-d tensors that
    stay valid after later steps (they are cloned out of the graph's static output).
    ``capture=False`` runs the same buffer-fed step eagerly (any device; used to test the path).
    """

    def __init__(self, method: Method, source: tuple[torch.Tensor, torch.Tensor],
                 target: tuple[torch.Tensor, torch.Tensor], batch_size: int, with_target_labels: bool,
                 generator: torch.Generator, capture: bool = True, eager_steps: int = 3,
                 source_domains: torch.Tensor | None = None):
        self.method, self.source, self.target = method, source, target
        self.source_domains = source_domains  # (N,) source-domain ids of a multi-source domain, or None
        self.with_target_labels, self.capture, self.eager_steps = with_target_labels, capture, eager_steps
        device = source[0].device
        self.source_sampler = IndexSampler(len(source[1]), batch_size, device, generator)
        self.target_sampler = IndexSampler(len(target[1]), batch_size, device, generator)
        self.idx_s = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.idx_t = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.progress = torch.zeros((), dtype=torch.float32, device=device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.names: list[str] | None = None
        self.static_out: torch.Tensor | None = None
        self.calls = 0
        self.fallback: str | None = None  # why the step runs eagerly after all, if it does
        self.side_stream = torch.cuda.Stream(device) if capture else None

    def _step_from_buffers(self) -> torch.Tensor:
        """The step on whatever the static buffers hold → (K,) float32 loss terms."""
        xs_u8, ys_all = self.source
        xt_u8, yt_all = self.target
        xs, xt = unit_float(xs_u8[self.idx_s]), unit_float(xt_u8[self.idx_t])
        yt = yt_all[self.idx_t] if self.with_target_labels else None
        ds = self.source_domains[self.idx_s] if self.source_domains is not None else None
        losses = self.method.train_step(Batch(xs, ys_all[self.idx_s], xt, yt, ds), self.progress)
        if self.names is None:
            self.names = list(losses)
        return torch.stack([losses[k].float() for k in self.names])

    def __call__(self, progress: float) -> dict[str, torch.Tensor]:
        self.idx_s.copy_(self.source_sampler.next())
        self.idx_t.copy_(self.target_sampler.next())
        self.progress.fill_(progress)
        self.calls += 1
        if not self.capture:
            out = self._step_from_buffers()
        elif self.graph is not None:
            self.graph.replay()
            out = self.static_out.clone()
        elif self.calls <= self.eager_steps:
            stream = self.side_stream
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                out = self._step_from_buffers()
            torch.cuda.current_stream().wait_stream(stream)
        else:
            out = self._capture()
        return dict(zip(self.names, out.unbind()))

    def _capture(self) -> torch.Tensor:
        """Capture the step and replay it once (capture records but does not run: the replay is
        this step). If the step cannot be captured (it reads a value back to the host, say), say
        why in ``fallback`` and go on eagerly: nothing ran during the failed capture."""
        graph = torch.cuda.CUDAGraph()
        try:
            # thread_local: other threads (other app sessions) may use the GPU meanwhile
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self.static_out = self._step_from_buffers()
        except Exception as err:  # noqa: BLE001 - any capture failure falls back to the eager step
            torch.cuda.synchronize()
            self.capture, self.fallback = False, f"{type(err).__name__}: {err}".splitlines()[0][:300]
            return self._step_from_buffers()
        self.graph = graph
        self.graph.replay()
        return self.static_out.clone()
