"""Export the network of an m2f_mm model (mmdet or mmseg config) to ONNX.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --out MODEL.onnx
                                       [--image IMAGE | --shape H W] [--batch-size B]
                                       [--benchmark N] [--cfg-options k=v ...]

The graph takes the preprocessed, padded batch ``inputs`` (B, 3, H, W) and gives the
final ``cls_logits`` (B, Q, K + 1) and ``mask_logits`` (B, Q, H/4, W/4); B, H and W are
dynamic. The export is traced, and then checked, on one input: ``--image`` runs an image
through the config's test pipeline and data preprocessor, ``--shape`` (default 256 256)
gives a random input of that size. ``m2f_mm.deploy.OnnxModel`` runs the graph in
onnxruntime between the model's own preprocessing and post-processing, so its outputs
become the same panoptic, instance and semantic results as the PyTorch model's.

After the export the tool checks the graph with onnx's checker, runs it in onnxruntime on
the same input as PyTorch and prints the largest logit difference; ``--benchmark N`` also
prints the median latency of N runs of each (CPU, this process's threads).
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

TOOL = 'export_onnx.py'


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(prog=TOOL, description=__doc__.splitlines()[0])
    parser.add_argument('config', help='model config (mmdet or mmseg)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    size = parser.add_mutually_exclusive_group()
    size.add_argument('--image', help='trace and check the export on this image')
    size.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), default=(256, 256),
                      help='trace and check the export on a random input of this network '
                      'input size (after resizing and padding; default 256 256)')
    parser.add_argument('--batch-size', type=int, default=1, help='images per run (default 1)')
    parser.add_argument('--benchmark', type=int, default=0, metavar='N',
                        help='time N runs of onnxruntime and of PyTorch after the export')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        sys.exit(f'{TOOL}: error: --batch-size must be at least 1, got {args.batch_size}')
    if not args.image and min(args.shape) < 32:
        sys.exit(f'{TOOL}: error: --shape {args.shape[0]} {args.shape[1]}: both sides must be '
                 'at least 32 (the backbone divides by 32)')
    if args.image and not osp.isfile(args.image):
        sys.exit(f'{TOOL}: error: --image not found: {args.image}')
    return args


def example_inputs(model, cfg, args):
    """The (B, 3, H, W) batch the export is traced and checked on."""
    import torch
    if not args.image:
        return torch.randn(args.batch_size, 3, *args.shape, generator=torch.Generator()
                           .manual_seed(0))
    import mmcv
    from mmengine.dataset import Compose

    from m2f_mm.deploy import inference_pipeline
    from m2f_mm.utils.errors import DataError
    try:
        image = mmcv.imread(args.image)
    except Exception as err:  # noqa: BLE001 (any decoder failure is the same user error)
        raise DataError(f'cannot read image {args.image} ({err})') from None
    if image is None or image.size == 0:
        raise DataError(f'cannot read image {args.image} (not an image, or corrupt)')
    data = Compose(inference_pipeline(cfg))(dict(img=image))
    batch = dict(inputs=[data['inputs']] * args.batch_size,
                 data_samples=[data['data_samples']] * args.batch_size)
    return model.data_preprocessor(batch, False)['inputs']


def median_seconds(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    args = parse_args(argv)
    for what, path in (('config', args.config), ('checkpoint', args.checkpoint)):
        if not osp.isfile(path):
            sys.exit(f'{TOOL}: error: {what} file not found: {path}')
    import onnx
    import torch
    from mmengine.registry import MODELS, DefaultScope

    from m2f_mm.converters import load_trained_weights
    from m2f_mm.deploy import LogitsNetwork, OnnxModel, export_onnx
    from m2f_mm.utils import exit_on_user_error, load_config

    with exit_on_user_error(TOOL):
        cfg = load_config(args.config, args.cfg_options)
        DefaultScope.get_instance(TOOL, scope_name=cfg.default_scope)
        model = MODELS.build(cfg.model)
        load_trained_weights(model, args.checkpoint, args.config)
        model.eval()
        inputs = example_inputs(model, cfg, args)
        network = LogitsNetwork(model)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    partial = args.out + '.partial'
    print(f'{TOOL}: exporting {args.config} for inputs {list(inputs.shape)} ...', flush=True)
    export_onnx(model, inputs, partial)
    onnx.checker.check_model(partial)
    os.replace(partial, args.out)  # a failed export leaves no half-written MODEL.onnx

    runtime = OnnxModel(args.out, model)
    with torch.no_grad():
        expected = network(inputs)
    got = runtime.logits(inputs)
    diffs = [float((a - b).abs().max()) for a, b in zip(got, expected)]
    print(f'{TOOL}: wrote {args.out} ({osp.getsize(args.out) / 2**20:.1f} MB); onnxruntime vs '
          f'PyTorch, largest difference: class logits {diffs[0]:.2e}, mask logits '
          f'{diffs[1]:.2e}', flush=True)
    if args.benchmark:
        with torch.no_grad():
            torch_s = median_seconds(lambda: network(inputs), args.benchmark)
        onnx_s = median_seconds(lambda: runtime.logits(inputs), args.benchmark)
        print(f'{TOOL}: median of {args.benchmark} runs, {torch.get_num_threads()} threads: '
              f'PyTorch {torch_s:.3f} s, onnxruntime {onnx_s:.3f} s '
              f'(onnxruntime / PyTorch {onnx_s / torch_s:.2f})', flush=True)


if __name__ == '__main__':
    main()
