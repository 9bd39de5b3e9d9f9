"""The check every built config passes (tests/configs/test_configs.py and
test_model_zoo.py)."""
from mmengine.config import Config
from mmengine.registry import TRANSFORMS, DefaultScope


def check_builds(cfg: Config, model) -> None:
    """The config imports m2f_mm, its head is ours, and every transform builds (mmdet's
    panoptic loader would need panopticapi)."""
    assert cfg.custom_imports.imports == ['m2f_mm']
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        for loader in ('train_dataloader', 'test_dataloader'):
            for transform in cfg[loader].dataset.pipeline:
                TRANSFORMS.build(transform)
    head = getattr(model, 'panoptic_head', None) or model.decode_head
    assert type(head).__module__.startswith('m2f_mm.')
