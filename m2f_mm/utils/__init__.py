from .checkpoint import allow_mmengine_checkpoint_types, mmengine_checkpoint_types
from .env_check import assert_environment, check_environment, version_summary
from .errors import DataError
from .launch import (add_common_args, add_custom_hook, close_distributed, exit_on_user_error, load_config,
                     parse_tool_args)
from .package_config import installed_config_path

__all__ = ['allow_mmengine_checkpoint_types', 'mmengine_checkpoint_types',
           'assert_environment', 'check_environment', 'version_summary',
           'installed_config_path', 'add_common_args', 'add_custom_hook', 'load_config',
           'parse_tool_args', 'exit_on_user_error', 'close_distributed', 'DataError']
