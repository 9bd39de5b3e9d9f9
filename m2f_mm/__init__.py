"""m2f_mm: Mask2Former for mmdetection and mmsegmentation."""
from .utils.env_check import assert_environment, version_summary

assert_environment()

from .registry import SCOPE, build_in_plugin_scope  # noqa: E402
# Only the host-independent core is imported here, so `import m2f_mm.models` imports
# neither mmdet nor mmseg. The parts that need a host (adapters, the COCO panoptic
# loader, the metrics) are imported by the registries' `locations` at the first
# lookup of an `m2f_mm.<Name>` type, for each installed host (m2f_mm.utils.hosts).
from . import engine, models, ops  # noqa: E402,F401
from .utils.checkpoint import allow_mmengine_checkpoint_types  # noqa: E402
from .version import __version__  # noqa: E402

allow_mmengine_checkpoint_types()

__all__ = ['__version__', 'SCOPE', 'build_in_plugin_scope', 'version_summary']
