"""The test pipeline of a config, for images already in memory (the demo, and the
example input of an ONNX export)."""
from m2f_mm.utils.errors import DataError

__all__ = ['inference_pipeline']


def inference_pipeline(cfg) -> list:
    """The config's test pipeline for arrays: annotation loading dropped, image loading
    from ``results['img']`` (as mmdet's and mmseg's inferencers do), no ``img_id``.

    Args:
        cfg: An mmengine config with a ``test_dataloader`` (or ``val_dataloader``).

    Returns:
        The transform configs, to ``Compose`` in the config's default scope.
    """
    test_dataloader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not test_dataloader:
        raise DataError(f'{cfg.filename}: no test_dataloader, whose pipeline prepares the '
                        'images')
    dataset = test_dataloader['dataset']
    while 'pipeline' not in dataset and 'dataset' in dataset:  # wrappers
        dataset = dataset['dataset']
    pipeline = []
    for transform in dataset['pipeline']:
        transform = dict(transform)
        name = str(transform['type']).split('.')[-1]
        if 'Annotation' in name:
            continue
        if name == 'LoadImageFromFile':
            transform = dict(type='LoadImageFromNDArray',
                             to_float32=transform.get('to_float32', False))
        elif 'meta_keys' in transform:
            transform['meta_keys'] = tuple(k for k in transform['meta_keys'] if k != 'img_id')
        pipeline.append(transform)
    if not any(str(t['type']).endswith('LoadImageFromNDArray') for t in pipeline):
        raise DataError(f'{cfg.filename}: test_dataloader.dataset.pipeline has no '
                        'LoadImageFromFile')
    return pipeline
