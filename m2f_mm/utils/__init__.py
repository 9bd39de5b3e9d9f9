from .checkpoint import allow_mmengine_checkpoint_types, mmengine_checkpoint_types
from .env_check import assert_environment, check_environment, version_summary

__all__ = ['allow_mmengine_checkpoint_types', 'mmengine_checkpoint_types',
           'assert_environment', 'check_environment', 'version_summary']
