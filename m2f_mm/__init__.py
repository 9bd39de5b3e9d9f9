"""m2f_mm: Mask2Former for mmdetection and mmsegmentation."""
from .utils.env_check import assert_environment, version_summary

assert_environment()

from .registry import SCOPE, build_in_plugin_scope  # noqa: E402
from . import datasets, engine, evaluation, models  # noqa: E402,F401  (registers every part)
from .utils.checkpoint import allow_mmengine_checkpoint_types  # noqa: E402
from .version import __version__  # noqa: E402

allow_mmengine_checkpoint_types()

__all__ = ['__version__', 'SCOPE', 'build_in_plugin_scope', 'version_summary']
