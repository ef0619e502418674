#!/usr/bin/env python3
# Writes ONNX's own backend node test cases for the ai.onnx operators mlrepo claims into
# Tests/Fixtures/onnx/conformance/<case>/ in ONNX's test-data layout:
#   model.onnx, test_data_set_0/input_N.pb, test_data_set_0/output_N.pb (TensorProto)
# Pinned: onnx==1.23.2, onnxruntime==1.32.0, numpy 2.x
# (requirements: pip install onnx==1.23.2 onnxruntime==1.32.0 numpy). Re-run from the
# repository root:  python3 Tests/Fixtures/onnx/make_conformance.py
# ONNX's cases are written at each operator's latest version; `extra_cases` adds mlrepo_*
# cases for the older versions whose attributes and inputs differ (Squeeze/Unsqueeze/Split
# axes as attributes before 13, Reduce* axes before 13/18, Softmax's 2-D coercion before 13,
# Clip bounds as attributes before 11, Slice before 10, Dropout's mask before 10/12, TopK's k
# before 10) and for Cast between the types mlrepo stores, with onnxruntime's outputs.
# A case is written when every node of its graph is an ai.onnx operator in CLAIMED, every
# input and output is a tensor of a type mlrepo stores (float, double, int8..int64,
# uint8..uint64, bool, string), and its files stay under MAX_CASE_BYTES. EXCLUDED lists
# cases left out on purpose, each with its reason; docs/onnx-conformance.md repeats them.
# A case written for an ai.onnx version above OPSET_MAX is written as <case>_at_opset25 when
# its model checks at 25 and ONNX's reference evaluator gives the same outputs there (`lower`).
import os, shutil, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases

assert onnx.__version__ == "1.23.2", f"pinned to onnx 1.23.2, found {onnx.__version__}"

CLAIMED = sorted("""
Abs Add And ArgMax ArgMin Cast CastLike Ceil Clip Concat Constant ConstantOfShape Div Dropout
Elu Equal Erf Exp Expand Flatten Floor Gather Gelu Gemm Greater GreaterOrEqual Identity IsInf IsNaN
LeakyRelu Less LessOrEqual Log LogSoftmax MatMul Max Mean Min Mul Neg Not Or Pow Range
Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd
ReduceSum ReduceSumSquare Relu Reshape Shape Sigmoid Sign Size Slice Softmax Softplus Split Sqrt
Squeeze Sub Sum Tanh Tile TopK Transpose Unsqueeze Where Xor
""".split())

# Element types mlrepo stores (TensorProto.DataType): float16, bfloat16, complex and the
# float8/4-bit types are not run.
TYPES = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13}
MAX_CASE_BYTES = 64 * 1024

# ai.onnx versions mlrepo runs (ONNXOperators.opsetRange); cases made for later versions
# (onnx 1.23.2 writes some at 26 to 28) are refused at load, as any such model is.
OPSET_MAX = 25

EXCLUDED = {
    # Dropout in training mode with a ratio above 0 drops at random (numpy's generator in
    # the reference); mlrepo runs inference only and refuses it with one line.
    "test_training_dropout": "training-mode Dropout is random; mlrepo runs inference only",
    "test_training_dropout_default": "training-mode Dropout is random; mlrepo runs inference only",
    "test_training_dropout_default_mask": "training-mode Dropout is random; mlrepo runs inference only",
    "test_training_dropout_mask": "training-mode Dropout is random; mlrepo runs inference only",
}

def tensor_proto(a, name):
    """A data-set entry as a TensorProto (numpy arrays and TensorProtos; not sequences)."""
    if isinstance(a, onnx.TensorProto):
        t = onnx.TensorProto()
        t.CopyFrom(a)
        t.name = name
        return t
    try:
        return numpy_helper.from_array(a, name)
    except Exception:
        return None


def lower(case, inputs, outputs):
    """The case's model with its ai.onnx import lowered to OPSET_MAX, when the model is valid
    there and ONNX's reference evaluator, run at that version, gives the case's expected
    outputs (within its tolerance); else None. onnx 1.23.2 writes some cases (Cast, Range,
    ReduceLogSum…) only at versions 26 to 28, although the operator is the same at 25."""
    from onnx.reference import ReferenceEvaluator
    m = onnx.ModelProto()
    m.CopyFrom(case.model)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = OPSET_MAX
    m.ir_version = min(m.ir_version, 11)   # IR 11 goes with opset 25
    try:
        onnx.checker.check_model(m, full_check=True)
        feeds = {vi.name: (numpy_helper.to_array(a) if isinstance(a, onnx.TensorProto) else a)
                 for vi, a in zip(m.graph.input, inputs)}
        got = ReferenceEvaluator(m).run(None, feeds)
        for g, want in zip(got, outputs):
            want = numpy_helper.to_array(want) if isinstance(want, onnx.TensorProto) else want
            if want.dtype.kind in "fc":
                np.testing.assert_allclose(g, want, rtol=case.rtol, atol=case.atol)
            else:
                np.testing.assert_array_equal(g, want)
    except Exception:
        return None
    return m


def extra_cases():
    """(name, operator, model, inputs, outputs): small single-node models at older versions,
    expected outputs from onnxruntime."""
    import onnxruntime as ort
    from onnx import helper, TensorProto as T
    assert ort.__version__ == "1.32.0", f"pinned to onnxruntime 1.32.0, found {ort.__version__}"
    rng = np.random.default_rng(15)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    NP = {T.FLOAT: np.float32, T.DOUBLE: np.float64, T.INT64: np.int64, T.INT32: np.int32, T.INT8: np.int8,
          T.UINT8: np.uint8, T.BOOL: np.bool_, T.STRING: object}
    out = []

    def case(name, op, opset, attrs, ins, n_out=1, out_types=None, ir=7):
        names = [f"x{i}" for i in range(len(ins))]
        arrays = [a for a in ins if a is not None]
        node = helper.make_node(op, [n if a is not None else "" for n, a in zip(names, ins)],
                                [f"y{i}" for i in range(n_out)], **attrs)
        in_vi = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype) if a.dtype != object else T.STRING, a.shape)
                 for n, a in zip(names, ins) if a is not None]
        # Output types: run once untyped through onnxruntime's inference would need a
        # model; give them explicitly where they differ from input 0's type.
        types = out_types or [in_vi[0].type.tensor_type.elem_type] * n_out
        out_vi = [helper.make_tensor_value_info(f"y{i}", t, None) for i, t in enumerate(types)]
        g = helper.make_graph([node], name, in_vi, out_vi)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="mlrepo make_conformance.py")
        m.ir_version = ir
        # (onnxruntime checks the model as it loads it)
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        res = sess.run(None, {vi.name: a for vi, a in zip(in_vi, arrays)})
        out.append((f"mlrepo_{name}", op, m, arrays, res))

    x3 = f32(2, 3, 4)
    # Squeeze / Unsqueeze: axes attribute (opset 11) and input (13).
    case("squeeze_axes_attr_opset11", "Squeeze", 11, {"axes": [0, -1]}, [f32(1, 3, 1)])
    case("squeeze_all_opset11", "Squeeze", 11, {}, [f32(1, 3, 1, 2)])
    case("unsqueeze_axes_attr_opset11", "Unsqueeze", 11, {"axes": [0, -1]}, [f32(3, 2)])
    case("unsqueeze_axes_attr_opset9", "Unsqueeze", 9, {"axes": [1]}, [f32(3, 2)])
    # Split: sizes as attribute (11), equal parts (11), sizes as input (13).
    case("split_attr_opset11", "Split", 11, {"axis": 1, "split": [1, 3]}, [f32(2, 4)], n_out=2)
    case("split_equal_opset11", "Split", 11, {"axis": -1}, [f32(2, 4)], n_out=2)
    # Reduce*: axes attribute until ReduceSum 13 and the others 18.
    case("reduce_sum_axes_attr_opset11", "ReduceSum", 11, {"axes": [1], "keepdims": 0}, [x3])
    case("reduce_sum_all_opset11", "ReduceSum", 11, {}, [x3])
    case("reduce_mean_axes_attr_opset13", "ReduceMean", 13, {"axes": [0, 2]}, [x3])
    case("reduce_max_axes_attr_opset13", "ReduceMax", 13, {"axes": [-1], "keepdims": 0}, [x3])
    case("reduce_min_axes_attr_opset11", "ReduceMin", 11, {"axes": [1]}, [x3])
    case("reduce_sum_square_axes_attr_opset13", "ReduceSumSquare", 13, {"axes": [1], "keepdims": 0}, [x3])
    case("reduce_log_sum_exp_axes_attr_opset13", "ReduceLogSumExp", 13, {"axes": [2]}, [x3])
    case("reduce_log_sum_exp_axes_input_opset18", "ReduceLogSumExp", 18, {"keepdims": 0}, [x3, np.array([0, 2], np.int64)])
    case("reduce_log_sum_axes_input_opset18", "ReduceLogSum", 18, {}, [np.abs(x3) + 0.1, np.array([1], np.int64)])
    case("reduce_sum_axes_input_opset13", "ReduceSum", 13, {"keepdims": 1}, [x3, np.array([-1], np.int64)])
    case("reduce_prod_int64_opset13", "ReduceProd", 13, {"axes": [1]}, [rng.integers(-3, 4, (2, 3)).astype(np.int64)])
    # Softmax / LogSoftmax / Flatten: 2-D coercion before 13, one axis from 13.
    case("softmax_coerce_axis1_opset11", "Softmax", 11, {}, [x3])
    case("softmax_coerce_axis2_opset9", "Softmax", 9, {"axis": 2}, [x3])
    case("logsoftmax_coerce_axis1_opset11", "LogSoftmax", 11, {}, [x3])
    case("softmax_axis1_opset13", "Softmax", 13, {"axis": 1}, [x3])
    case("logsoftmax_double_opset13", "LogSoftmax", 13, {}, [x3.astype(np.float64)])
    case("flatten_axis2_opset9", "Flatten", 9, {"axis": 2}, [x3])
    case("flatten_axis_neg1_opset13", "Flatten", 13, {"axis": -1}, [x3])
    # Clip: bounds as attributes (9), as inputs (11, 13; one omitted).
    case("clip_attrs_opset9", "Clip", 9, {"min": -0.5, "max": 0.5}, [f32(3, 4)])
    case("clip_inputs_opset11", "Clip", 11, {}, [f32(3, 4), np.array(-0.5, np.float32), np.array(0.25, np.float32)])
    case("clip_max_only_opset13", "Clip", 13, {}, [f32(3, 4), None, np.array(0.25, np.float32)])
    # Slice: attributes before 10, inputs from 10.
    case("slice_attrs_opset9", "Slice", 9, {"starts": [1, 0], "ends": [3, -1], "axes": [0, 2]}, [x3[:, :, :] if False else f32(4, 3, 5)])
    case("slice_steps_opset11", "Slice", 11, {}, [f32(4, 6), np.array([3, 0], np.int64), np.array([0, 6], np.int64),
                                                   np.array([0, 1], np.int64), np.array([-1, 2], np.int64)])
    # Dropout at inference: ratio attribute (9, mask of the input's type), inputs (12).
    case("dropout_mask_opset9", "Dropout", 9, {"ratio": 0.3}, [f32(3, 4)], n_out=2, out_types=[T.FLOAT, T.FLOAT])
    case("dropout_mask_opset10", "Dropout", 10, {}, [f32(3, 4)], n_out=2, out_types=[T.FLOAT, T.BOOL])
    case("dropout_ratio_input_opset13", "Dropout", 13, {}, [f32(3, 4), np.array(0.2, np.float32)])
    # TopK: k attribute before 10, input from 10.
    case("topk_attr_opset9", "TopK", 9, {"k": 2, "axis": 1}, [f32(3, 5)], n_out=2, out_types=[T.FLOAT, T.INT64])
    case("topk_smallest_opset11", "TopK", 11, {"largest": 0}, [f32(3, 5), np.array([3], np.int64)], n_out=2, out_types=[T.FLOAT, T.INT64])
    # Gemm / MatMul shapes torch and skl2onnx emit.
    case("gemm_transB_bias_opset9", "Gemm", 9, {"transB": 1}, [f32(5, 4), f32(3, 4), f32(3)])
    case("gemm_alpha_beta_opset11", "Gemm", 11, {"alpha": 0.5, "beta": 2.0}, [f32(5, 4), f32(4, 3), f32(5, 1)])
    case("gemm_double_opset13", "Gemm", 13, {}, [f32(5, 4).astype(np.float64), f32(4, 3).astype(np.float64)])
    case("matmul_batch_by_matrix_opset13", "MatMul", 13, {}, [f32(2, 3, 4), f32(4, 5)])
    case("matmul_int64_opset13", "MatMul", 13, {}, [rng.integers(-5, 5, (3, 4)).astype(np.int64), rng.integers(-5, 5, (4, 2)).astype(np.int64)])
    case("argmax_keepdims_opset11", "ArgMax", 11, {"axis": 1}, [f32(3, 5)], out_types=[T.INT64])
    case("argmin_no_keepdims_opset11", "ArgMin", 11, {"axis": -1, "keepdims": 0}, [f32(3, 5)], out_types=[T.INT64])
    # Element movers on more shapes and types than ONNX's few cases.
    case("tile_3d_opset13", "Tile", 13, {}, [f32(2, 1, 3), np.array([1, 3, 2], np.int64)])
    case("tile_string_opset13", "Tile", 13, {}, [np.array([["a", "b"]], dtype=object), np.array([2, 2], np.int64)])
    case("gather_axis1_2d_indices_opset13", "Gather", 13, {"axis": 1}, [f32(3, 4), np.array([[0, 3], [-1, 1]], np.int64)])
    case("gather_string_opset13", "Gather", 13, {}, [np.array(["x", "y", "z"], dtype=object), np.array([2, 0], np.int32)])
    case("where_broadcast_int64_opset13", "Where", 13, {}, [np.array([[True], [False]]), rng.integers(-9, 9, (2, 3)).astype(np.int64),
                                                               np.array([7], np.int64)], out_types=[T.INT64])
    case("expand_bidirectional_opset13", "Expand", 13, {}, [f32(3, 1), np.array([2, 1, 4], np.int64)])
    case("sign_abs_int64_opset13", "Sign", 13, {}, [np.array([-3, 0, 5], np.int64)])
    case("abs_int32_opset13", "Abs", 13, {}, [np.array([-3, 0, 5], np.int32)])
    case("concat_string_opset13", "Concat", 13, {"axis": 0}, [np.array(["a"], dtype=object), np.array(["b", "c"], dtype=object)])
    case("transpose_default_opset13", "Transpose", 13, {}, [f32(2, 3, 4)])
    case("reshape_allowzero_opset14", "Reshape", 14, {"allowzero": 1}, [f32(0, 3), np.array([3, 0], np.int64)])
    case("range_int64_opset11", "Range", 11, {}, [np.array(10, np.int64), np.array(-3, np.int64), np.array(-4, np.int64)])
    case("range_float_opset11", "Range", 11, {}, [np.array(0.5, np.float32), np.array(2.0, np.float32), np.array(0.25, np.float32)])
    case("constant_of_shape_int64_opset11", "ConstantOfShape", 11, {"value": helper.make_tensor("v", T.INT64, [1], [7])},
         [np.array([2, 3], np.int64)], out_types=[T.INT64])
    case("equal_string_opset19", "Equal", 19, {}, [np.array(["a", "b"], dtype=object), np.array(["a", "c"], dtype=object)], out_types=[T.BOOL], ir=9)
    # Cast between the types mlrepo stores.
    F = np.array([0.1, -2.7, 3.5, 1e-7, 123456789, np.inf, -np.inf, np.nan, 0.0, -0.0, 1.5e-5, 100], np.float32)
    R = np.array([1.7, -1.7, 2.5, -0.5, 0, 100], np.float32)
    for opset in (9, 13, 21):
        case(f"cast_float_to_double_opset{opset}", "Cast", opset, {"to": T.DOUBLE}, [F], out_types=[T.DOUBLE])
        case(f"cast_float_to_int64_opset{opset}", "Cast", opset, {"to": T.INT64}, [R], out_types=[T.INT64])
    case("cast_double_to_float_opset13", "Cast", 13, {"to": T.FLOAT}, [F.astype(np.float64) / 3], out_types=[T.FLOAT])
    case("cast_float_to_int32_opset13", "Cast", 13, {"to": T.INT32}, [R], out_types=[T.INT32])
    case("cast_float_to_uint8_opset13", "Cast", 13, {"to": T.UINT8}, [np.abs(R)], out_types=[T.UINT8])
    case("cast_int64_to_int8_opset13", "Cast", 13, {"to": T.INT8}, [np.array([1, 127, 128, -129, 300], np.int64)], out_types=[T.INT8])
    case("cast_int64_to_float_opset13", "Cast", 13, {"to": T.FLOAT}, [np.array([1, -5, 2**40], np.int64)], out_types=[T.FLOAT])
    case("cast_int32_to_int64_opset13", "Cast", 13, {"to": T.INT64}, [np.array([1, -5, 7], np.int32)], out_types=[T.INT64])
    case("cast_float_to_bool_opset13", "Cast", 13, {"to": T.BOOL}, [np.array([0, 1.5, -0.0, np.nan], np.float32)], out_types=[T.BOOL])
    case("cast_bool_to_float_opset13", "Cast", 13, {"to": T.FLOAT}, [np.array([True, False])], out_types=[T.FLOAT])
    case("cast_bool_to_int64_opset13", "Cast", 13, {"to": T.INT64}, [np.array([True, False])], out_types=[T.INT64])
    case("cast_float_to_string_opset13", "Cast", 13, {"to": T.STRING}, [F], out_types=[T.STRING])
    case("cast_double_to_string_opset13", "Cast", 13, {"to": T.STRING}, [F.astype(np.float64) / 3], out_types=[T.STRING])
    case("cast_int64_to_string_opset13", "Cast", 13, {"to": T.STRING}, [np.array([1, -5, 2**40], np.int64)], out_types=[T.STRING])
    case("cast_string_to_float_opset13", "Cast", 13, {"to": T.FLOAT},
         [np.array(["0.1", "-2.7", "1e-7", "INF", "-INF", "+INF", "NaN", "inf", " 3", "1e40"], dtype=object)], out_types=[T.FLOAT])
    case("cast_string_to_double_opset13", "Cast", 13, {"to": T.DOUBLE}, [np.array(["0.1", "-2.5e300", "NaN"], dtype=object)], out_types=[T.DOUBLE])
    case("cast_string_to_int64_opset13", "Cast", 13, {"to": T.INT64}, [np.array(["1", "-2", "300"], dtype=object)], out_types=[T.INT64])
    return out


def value_ok(vi):
    t = vi.type
    return t.HasField("tensor_type") and t.tensor_type.elem_type in TYPES

def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conformance")
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)
    written, skipped = 0, {}
    cases = sorted(collect_testcases(None), key=lambda c: c.name)
    single = {c.name: c.model.graph.node[0].op_type for c in cases if len(c.model.graph.node) == 1}
    index = []
    extra = 0
    for case in cases:
        def skip(why):
            skipped[why] = skipped.get(why, 0) + 1
        m = case.model
        ops = {(n.domain, n.op_type) for n in m.graph.node}
        if any(d not in ("", "ai.onnx") for d, _ in ops):
            skip("other domain"); continue
        if any(o not in CLAIMED for _, o in ops):
            skip("operator not claimed"); continue
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in m.graph.node for a in n.attribute):
            skip("subgraph"); continue
        if not all(value_ok(v) for v in list(m.graph.input) + list(m.graph.output)):
            skip("element type not stored (float16, bfloat16, float8, 4-bit, complex) or not a tensor"); continue
        opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 0)
        if case.name in EXCLUDED:
            skip("excluded: " + EXCLUDED[case.name]); continue
        if len(case.data_sets) != 1:
            skip("data sets != 1"); continue
        inputs, outputs = case.data_sets[0]
        name = case.name
        if opset > OPSET_MAX:
            lowered = lower(case, inputs, outputs)
            if lowered is None:
                skip(f"ai.onnx opset above {OPSET_MAX} and not the same at {OPSET_MAX}"); continue
            m, name, opset = lowered, f"{case.name}_at_opset{OPSET_MAX}", OPSET_MAX
        blobs = []
        ok = True
        for kind, arrays, infos in (("input", inputs, m.graph.input), ("output", outputs, m.graph.output)):
            for i, (a, vi) in enumerate(zip(arrays, infos)):
                t = tensor_proto(a, vi.name)
                if t is None or t.data_type != vi.type.tensor_type.elem_type:
                    ok = False; break
                blobs.append((f"{kind}_{i}.pb", t.SerializeToString()))
        if not ok:
            skip("data not a plain tensor"); continue
        mb = m.SerializeToString()
        if len(mb) + sum(len(b) for _, b in blobs) > MAX_CASE_BYTES:
            skip(f"over {MAX_CASE_BYTES // 1024} KiB of data"); continue
        d = os.path.join(root, name)
        os.makedirs(os.path.join(d, "test_data_set_0"))
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(mb)
        for fname, b in blobs:
            with open(os.path.join(d, "test_data_set_0", fname), "wb") as f:
                f.write(b)
        # The operator under test: the node's, or for a function expanded into several nodes
        # (test_x_expanded…), the operator of the unexpanded case.
        base = case.name.split("_expanded")[0]
        op = single.get(case.name) or single.get(base) or "(multi-node)"
        index.append(f"{name}\t{op}\t{opset}\t{len(inputs)}\t{len(outputs)}\t{case.rtol!r}\t{case.atol!r}\n")
        written += 1
    for name, op, m, inputs, outputs in extra_cases():
        d = os.path.join(root, name)
        os.makedirs(os.path.join(d, "test_data_set_0"))
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(m.SerializeToString())
        for kind, arrays in (("input", inputs), ("output", outputs)):
            for i, a in enumerate(arrays):
                with open(os.path.join(d, "test_data_set_0", f"{kind}_{i}.pb"), "wb") as f:
                    f.write(numpy_helper.from_array(np.asarray(a), f"{kind}_{i}").SerializeToString())
        opset = m.opset_import[0].version
        # onnxruntime as the oracle: float32 within 1e-6 relative (and 1e-7 absolute).
        index.append(f"{name}\t{op}\t{opset}\t{len(inputs)}\t{len(outputs)}\t1e-06\t1e-07\n")
        written += 1
        extra += 1
    with open(os.path.join(root, "cases.tsv"), "w") as f:
        f.write("# case\toperator\topset\tinputs\toutputs\trtol\tatol (written by make_conformance.py)\n")
        f.writelines(index)
    lowered = sum(1 for line in index if "_at_opset" in line.split("\t")[0])
    print(f"written {written} cases: {written - extra} of ONNX's ({lowered} of them lowered to opset {OPSET_MAX}), {extra} mlrepo_* cases")
    for why, n in sorted(skipped.items()):
        print(f"skipped {n}: {why}")

if __name__ == "__main__":
    main()
