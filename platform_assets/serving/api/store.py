"""The bundle being served, swapped for the next without a restart: a thread polls the `current`
pointer, loads a new generation completely, then replaces one reference. A request takes the
reference once when it starts (`require`) and keeps that bundle to the end, so a swap never fails or
mixes a request in flight; a bundle that fails to load leaves the current one serving."""

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from platform_assets.serving.bundle import current_generation
from platform_assets.serving.errors import NotReady
from platform_assets.serving.loaded import LoadedBundle, load_bundle

log = logging.getLogger("shelfcast.serving")


class BundleStore:
    def __init__(self, root: Path, interval: float, on_swap: Callable[[LoadedBundle], None] | None = None):
        self.root, self.interval, self.on_swap = Path(root), interval, on_swap
        self.current: LoadedBundle | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def require(self) -> LoadedBundle:
        bundle = self.current
        if bundle is None:
            raise NotReady(
                f"no serving bundle under {self.root} yet: materialize the `serving_bundle` asset "
                "(`make demo` does)"
            )
        return bundle

    def refresh(self) -> bool:
        """Load and swap in the bundle `current` names if it is not the one served; True on a swap."""
        generation = current_generation(self.root)
        if generation is None or (self.current is not None and self.current.generation == generation):
            return False
        try:
            bundle = load_bundle(self.root, generation)
        except Exception as exc:  # a broken or pruned bundle must not take the API down
            self.last_error = f"bundle {generation}: {exc}"
            log.error("could not load %s", self.last_error)
            return False
        self.current, self.last_error = bundle, None
        log.info("serving bundle %s (model v%s)", generation, bundle.model_version)
        if self.on_swap is not None:
            self.on_swap(bundle)
        return True

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._poll, name="bundle-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()
