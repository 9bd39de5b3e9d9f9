"""The command line shared by ``tools/model_converters/convert_*.py``.

    python tools/model_converters/convert_<source>.py SRC CONFIG OUT [--reset-classes]

Builds CONFIG's model, converts SRC into it, proves that the result loads with
``strict=True``, and writes OUT (``{'meta', 'state_dict'}``, atomically) for
``tools/test.py`` and ``load_from``.
"""
import argparse
import os
import os.path as osp
import pickle
from typing import Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

from m2f_mm.engine.checkpoint import fsync_and_replace
from m2f_mm.utils.errors import DataError
from m2f_mm.utils.launch import exit_on_user_error
from m2f_mm.version import __version__
from .convert import convert_checkpoint, head_prefix
from .fit import RESET_FLAG
from .label_order import reference_label_order

__all__ = ['main', 'build_model']


def build_model(config: str) -> torch.nn.Module:
    """CONFIG's model with an initialised head (the backbone's pretrained init is skipped)."""
    cfg = _read_config(config)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    model.get_submodule(head_prefix(model)[:-1]).init_weights()
    return model


def _read_config(config: str) -> Config:
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    return Config.fromfile(config)


def _save(checkpoint: dict, path: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = osp.join(osp.dirname(osp.abspath(path)), f'.{osp.basename(path)}.tmp')
    torch.save(checkpoint, tmp)
    fsync_and_replace(tmp, path)


def main(source: str, description: str, argv: Optional[Sequence[str]] = None) -> None:
    """Run the converter for ``source`` (a key of ``SOURCE_FORMATS``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='the published checkpoint')
    parser.add_argument('config', help='the m2f_mm config the checkpoint is for')
    parser.add_argument('out', help='where to write the m2f_mm checkpoint (.pth)')
    parser.add_argument(RESET_FLAG, action='store_true',
                        help='re-initialise class_embed and criterion.empty_weight when the '
                             'class counts differ (fine-tuning on another dataset)')
    args = parser.parse_args(argv)
    tool = f'convert_{source}.py'
    with exit_on_user_error(tool):
        if not osp.exists(args.src):
            raise FileNotFoundError(f'checkpoint not found: {args.src}')
        model = build_model(args.config)
        train_data = _read_config(args.config).get('train_dataloader') or {}
        order = reference_label_order(train_data.get('dataset', {}).get('type'))
        try:
            state_dict, notes = convert_checkpoint(args.src, source, model, args.reset_classes,
                                                   order)
        except (KeyError, pickle.UnpicklingError) as err:
            raise DataError(f'{args.src}: {err.args[0] if err.args else err}') from None
        model.load_state_dict(state_dict, strict=True)
        for note in notes:
            print(f'{tool}: {note}')
        print(f'{tool}: missing keys: none; unexpected keys: none '
              f'({len(state_dict)} tensors load with strict=True)')
        _save(dict(meta=dict(converted_from=osp.abspath(args.src), source_format=source,
                             config=osp.abspath(args.config), m2f_mm_version=__version__),
                   state_dict=state_dict), args.out)
        print(f'{tool}: wrote {args.out}')
