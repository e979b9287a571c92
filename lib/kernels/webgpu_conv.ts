/**
 * Register-tiled WGSL kernels for NHWC 2-D convolution in the tfjs webgpu
 * backend: the forward conv (`Conv2D`, `FusedConv2D`), the input gradient
 * (`Conv2DBackpropInput`, which is also the transposed conv) and the filter
 * gradient (`Conv2DBackpropFilter`). All are implicit GEMMs: no im2col buffer.
 *
 * The input gradient is computed per output phase (`ih mod strideH`,
 * `iw mod strideW`): within one phase every output pixel meets the same
 * filter taps, so the zero taps a strided transposed conv would multiply are
 * skipped (a quarter of the work at stride 2, kernel 4).
 *
 * @module
 */
import { backend_util, type TensorInfo } from "@tensorflow/tfjs-core";
import type {
  WebGPUBackend,
  WebGPUProgram,
} from "@tensorflow/tfjs-backend-webgpu";
import {
  type Epilogue,
  kvecGemmProgram,
  NO_EPILOGUE,
  splitSumProgram,
  type TileConfig,
  transposeProgram,
  workgroupFor,
} from "./webgpu_gemm.ts";

type Conv2DInfo = backend_util.Conv2DInfo;

/** True when the fast kernels handle this convolution. */
export function supportsConv(info: Conv2DInfo): boolean {
  return info.dataFormat === "channelsLast" && info.dilationHeight === 1 &&
    info.dilationWidth === 1 && info.padInfo.top >= 0 &&
    info.padInfo.left >= 0;
}

function key(info: Conv2DInfo): string {
  const p = info.padInfo;
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    p.top,
    p.left,
  ].join("_");
}

/**
 * The forward conv as a program: x `[B, H, W, Ci]`, filter `[KH, KW, Ci, Co]`
 * (and `bias [Co]` when the epilogue has one) → `[B, OH, OW, Co]`.
 */
export function conv2dProgram(
  info: Conv2DInfo,
  tiles: TileConfig,
  epilogue: Epilogue = NO_EPILOGUE,
): WebGPUProgram {
  const {
    batchSize: B,
    inHeight: H,
    inWidth: W,
    inChannels: CI,
    outHeight: OH,
    outWidth: OW,
    outChannels: CO,
    filterHeight: KH,
    filterWidth: KW,
    strideHeight: SH,
    strideWidth: SW,
  } = info;
  const PT = info.padInfo.top;
  const PL = info.padInfo.left;
  const kVec = CI % 4 === 0 ? 4 : 1;
  const c4 = CI / kVec;
  return kvecGemmProgram({
    key: `conv_${key(info)}`,
    tiles,
    outputShape: [B, OH, OW, CO],
    m: B * OH * OW,
    n: CO,
    z: 1,
    kVec,
    aName: "x",
    bName: "w",
    prologue: "",
    rowSetup: (r) => `
  let b_${r} = m_${r} / ${OH * OW};
  let p_${r} = m_${r} - b_${r} * ${OH * OW};
  let oh_${r} = p_${r} / ${OW};
  let ih0_${r} = oh_${r} * ${SH} - ${PT};
  let iw0_${r} = (p_${r} - oh_${r} * ${OW}) * ${SW} - ${PL};
  let xb_${r} = b_${r} * ${H * W};
  let oRow_${r} = m_${r};
  let oOk_${r} = true;`,
    segBegin: `  for (var kh = 0; kh < ${KH}; kh++) {
  for (var kw = 0; kw < ${KW}; kw++) {`,
    segRow: (r) => `
  { let ih = ih0_${r} + kh; let iw = iw0_${r} + kw;
    aOk_${r} = ih >= 0 && ih < ${H} && iw >= 0 && iw < ${W};
    aOff_${r} = select(0, (xb_${r} + ih * ${W} + iw) * ${c4}, aOk_${r}); }`,
    segBRow: `(kh * ${KW} + kw) * ${CI}`,
    kLen: CI,
    segEnd: "  }\n  }",
    epilogue,
  });
}

/**
 * The input gradient (transposed conv) as a program: dy `[B, OH, OW, Co]` and
 * the filter transposed to `[KH, KW, Co, Ci]` → dx `[B, H, W, Ci]`.
 */
export function conv2dBackpropInputProgram(
  info: Conv2DInfo,
  tiles: TileConfig,
): WebGPUProgram {
  const {
    batchSize: B,
    inHeight: H,
    inWidth: W,
    inChannels: CI,
    outHeight: OH,
    outWidth: OW,
    outChannels: CO,
    filterHeight: KH,
    filterWidth: KW,
    strideHeight: SH,
    strideWidth: SW,
  } = info;
  const PT = info.padInfo.top;
  const PL = info.padInfo.left;
  const GH = Math.ceil(H / SH);
  const GW = Math.ceil(W / SW);
  const kVec = CO % 4 === 0 ? 4 : 1;
  const co4 = CO / kVec;
  return kvecGemmProgram({
    key: `convDx_${key(info)}`,
    tiles,
    outputShape: [B, H, W, CI],
    m: B * GH * GW,
    n: CI,
    z: SH * SW,
    kVec,
    aName: "dy",
    bName: "wt",
    // z is the phase (ih mod SH, iw mod SW); kh0/kw0 its first tap.
    prologue: `
  let ph = z / ${SW}; let pw = z - ph * ${SW};
  let kh0 = (ph + ${PT}) % ${SH}; let kw0 = (pw + ${PL}) % ${SW};
  let qh = (ph + ${PT} - kh0) / ${SH}; let qw = (pw + ${PL} - kw0) / ${SW};
  let nth = (${KH + SH - 1} - kh0) / ${SH};
  let ntw = (${KW + SW - 1} - kw0) / ${SW};`,
    rowSetup: (r) => `
  let b_${r} = m_${r} / ${GH * GW};
  let p_${r} = m_${r} - b_${r} * ${GH * GW};
  let i_${r} = p_${r} / ${GW};
  let j_${r} = p_${r} - i_${r} * ${GW};
  let ih_${r} = ph + ${SH} * i_${r};
  let iw_${r} = pw + ${SW} * j_${r};
  let oOk_${r} = ih_${r} < ${H} && iw_${r} < ${W};
  let oRow_${r} = (b_${r} * ${H} + ih_${r}) * ${W} + iw_${r};
  let dyb_${r} = b_${r} * ${OH * OW};
  let oh0_${r} = i_${r} + qh;
  let ow0_${r} = j_${r} + qw;`,
    segBegin: `  for (var th = 0; th < nth; th++) {
  for (var tw = 0; tw < ntw; tw++) {
  let kh = kh0 + th * ${SH}; let kw = kw0 + tw * ${SW};`,
    segRow: (r) => `
  { let oh = oh0_${r} - th; let ow = ow0_${r} - tw;
    aOk_${r} = oOk_${r} && oh >= 0 && oh < ${OH} && ow >= 0 && ow < ${OW};
    aOff_${r} = select(0, (dyb_${r} + oh * ${OW} + ow) * ${co4}, aOk_${r}); }`,
    segBRow: `(kh * ${KW} + kw) * ${CO}`,
    kLen: CO,
    segEnd: "  }\n  }",
    epilogue: NO_EPILOGUE,
  });
}

/** The split of the batch used by the filter gradient. */
export function filterGradSplits(info: Conv2DInfo, tiles: TileConfig): number {
  const M = info.filterHeight * info.filterWidth * info.inChannels;
  const N = info.outChannels;
  const tn = Math.min(tiles.tn, Math.ceil(N / 4) * 4);
  const colBlocks = Math.ceil(N / tn);
  const rowBlocks = Math.ceil(M / tiles.tm);
  const wg = workgroupFor(colBlocks, rowBlocks, tiles.invocations);
  const groups = Math.ceil(colBlocks / wg[0]) * Math.ceil(rowBlocks / wg[1]);
  const splits = Math.ceil(tiles.minWorkgroups / groups);
  return Math.max(1, Math.min(splits, info.batchSize));
}

/**
 * The filter gradient as a program: x `[B, H, W, Ci]`, dy `[B, OH, OW, Co]` →
 * `[S, KH·KW·Ci·Co]` partial sums over S slices of the batch (or the filter
 * `[KH, KW, Ci, Co]` itself when S is 1).
 */
export function conv2dBackpropFilterProgram(
  info: Conv2DInfo,
  tiles: TileConfig,
  splits: number,
): WebGPUProgram {
  const {
    batchSize: B,
    inHeight: H,
    inWidth: W,
    inChannels: CI,
    outHeight: OH,
    outWidth: OW,
    outChannels: CO,
    filterHeight: KH,
    filterWidth: KW,
    strideHeight: SH,
    strideWidth: SW,
  } = info;
  const PT = info.padInfo.top;
  const PL = info.padInfo.left;
  const M = KH * KW * CI;
  const N = CO;
  const mVec = CI % 4 === 0;
  const nVec = N % 4 === 0;
  const tm = tiles.tm;
  const tn = Math.min(tiles.tn, Math.ceil(N / 4) * 4);
  const tn4 = tn / 4;
  const n4 = N / 4;
  const ci4 = CI / 4;
  const colBlocks = Math.ceil(N / tn);
  const rowBlocks = Math.ceil(M / tm);
  const wg = workgroupFor(colBlocks, rowBlocks, tiles.invocations);
  const perSplit = Math.ceil(B / splits);
  const rows = [...Array(tm).keys()];
  const groups = [...Array(tm / 4).keys()];
  const cols = [...Array(tn4).keys()];
  const L: string[] = [];
  L.push(`fn main() {
  if (uniforms.NAN == 1.0) { return; } // binds the uniforms (auto layout)
  let nb = i32(globalId.x); let mb = i32(globalId.y); let z = i32(globalId.z);
  if (nb >= ${colBlocks} || mb >= ${rowBlocks}) { return; }
  let n0 = nb * ${tn}; let m0 = mb * ${tm};`);
  // Each A unit (a group of 4 rows when Ci % 4 == 0, else one row) has a tap.
  const units = mVec ? groups : rows;
  for (const u of units) {
    if (mVec) {
      L.push(`  let mu_${u} = min(m0 + ${4 * u}, ${M - 4});
  let tap_${u} = mu_${u} / ${CI};
  let ci_${u} = (mu_${u} - tap_${u} * ${CI}) / 4;`);
    } else {
      L.push(`  let mu_${u} = min(m0 + ${u}, ${M - 1});
  let tap_${u} = mu_${u} / ${CI};
  let ci_${u} = mu_${u} - tap_${u} * ${CI};`);
    }
    L.push(
      `  let kh_${u} = tap_${u} / ${KW}; let kw_${u} = tap_${u} - kh_${u} * ${KW};`,
    );
  }
  for (const r of rows) {
    for (const c of cols) L.push(`  var acc_${r}_${c} = vec4<f32>(0.0);`);
  }
  for (const c of cols) {
    if (nVec) L.push(`  let bc_${c} = min(n0 / 4 + ${c}, ${n4 - 1});`);
    else {
      for (let e = 0; e < 4; e++) {
        L.push(`  let bc_${c}_${e} = min(n0 + ${4 * c + e}, ${N - 1});`);
      }
    }
  }
  L.push(`  let bEnd = min(${B}, (z + 1) * ${perSplit});
  for (var bi = z * ${perSplit}; bi < bEnd; bi++) {
  for (var oh = 0; oh < ${OH}; oh++) {`);
  for (const u of units) {
    L.push(`    let ih_${u} = oh * ${SH} - ${PT} + kh_${u};
    let okh_${u} = ih_${u} >= 0 && ih_${u} < ${H};
    let xr_${u} = (bi * ${H} + ih_${u}) * ${W};`);
  }
  L.push(`    let dyr = (bi * ${OH} + oh) * ${OW};
    for (var ow = 0; ow < ${OW}; ow++) {`);
  for (const c of cols) {
    if (nVec) L.push(`      let b_${c} = dy[(dyr + ow) * ${n4} + bc_${c}];`);
    else {
      const parts = [0, 1, 2, 3].map((e) =>
        `dy[(dyr + ow) * ${N} + bc_${c}_${e}]`
      );
      L.push(`      let b_${c} = vec4<f32>(${parts.join(", ")});`);
    }
  }
  for (const u of units) {
    const zero = mVec ? "vec4<f32>(0.0)" : "0.0";
    const idx = mVec
      ? `(xr_${u} + iw) * ${ci4} + ci_${u}`
      : `(xr_${u} + iw) * ${CI} + ci_${u}`;
    L.push(`      var a_${u} = ${zero};
      { let iw = ow * ${SW} - ${PL} + kw_${u};
        let ok = okh_${u} && iw >= 0 && iw < ${W};
        a_${u} = select(${zero}, x[select(0, ${idx}, ok)], ok); }`);
  }
  for (const r of rows) {
    const av = mVec ? `a_${Math.floor(r / 4)}.${"xyzw"[r % 4]}` : `a_${r}`;
    for (const c of cols) {
      L.push(
        `      acc_${r}_${c} = fma(vec4<f32>(${av}), b_${c}, acc_${r}_${c});`,
      );
    }
  }
  L.push(`    }
  }
  }`);
  const base = splits > 1 ? `z * ${M * N}` : "0";
  for (const r of rows) {
    L.push(`  if (m0 + ${r} < ${M}) {`);
    for (const c of cols) {
      if (nVec) {
        L.push(`    if (n0 / 4 + ${c} < ${n4}) {
      result[(${base} + (m0 + ${r}) * ${N}) / 4 + n0 / 4 + ${c}] = acc_${r}_${c};
    }`);
      } else {
        for (let q = 0; q < 4; q++) {
          const col = `n0 + ${4 * c + q}`;
          L.push(
            `    if (${col} < ${N}) { result[${base} + (m0 + ${r}) * ${N} + ${col}] = acc_${r}_${c}.${
              "xyzw"[q]
            }; }`,
          );
        }
      }
    }
    L.push(`  }`);
  }
  L.push(`}`);
  const code = L.join("\n");
  return {
    variableNames: ["x", "dy"],
    variableComponents: [mVec ? 4 : 1, nVec ? 4 : 1],
    outputComponent: nVec ? 4 : 1,
    outputShape: splits > 1 ? [splits, M * N] : [KH, KW, CI, CO],
    shaderKey: `fastConvDw_${key(info)}_${splits}_${tm}x${tn}_${wg.join("x")}`,
    dispatchLayout: { x: [0], y: [1], z: [2] },
    dispatch: [
      Math.ceil(colBlocks / wg[0]),
      Math.ceil(rowBlocks / wg[1]),
      splits,
    ],
    workgroupSize: wg,
    getUserCode: () => code,
  };
}

/** Runs the forward conv (with an optional fused epilogue). */
export function runConv2d(
  backend: WebGPUBackend,
  x: TensorInfo,
  filter: TensorInfo,
  info: Conv2DInfo,
  tiles: TileConfig,
  epilogue: Epilogue = NO_EPILOGUE,
  bias?: TensorInfo,
): TensorInfo {
  const program = conv2dProgram(info, tiles, epilogue);
  const inputs = bias ? [x, filter, bias] : [x, filter];
  return backend.runWebGPUProgram(program, inputs, "float32");
}

/** Runs the input gradient: dy and filter → dx of shape `info.inShape`. */
export function runConv2dBackpropInput(
  backend: WebGPUBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  info: Conv2DInfo,
  tiles: TileConfig,
): TensorInfo {
  const taps = info.filterHeight * info.filterWidth;
  const wt = backend.runWebGPUProgram(
    transposeProgram(taps, info.inChannels, info.outChannels),
    [filter],
    "float32",
  );
  const out = backend.runWebGPUProgram(
    conv2dBackpropInputProgram(info, tiles),
    [dy, wt],
    "float32",
  );
  backend.disposeData(wt.dataId);
  return out;
}

/** Runs the filter gradient: x and dy → dW `[KH, KW, Ci, Co]`. */
export function runConv2dBackpropFilter(
  backend: WebGPUBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: Conv2DInfo,
  tiles: TileConfig,
): TensorInfo {
  const splits = filterGradSplits(info, tiles);
  const program = conv2dBackpropFilterProgram(info, tiles, splits);
  const out = backend.runWebGPUProgram(program, [x, dy], "float32");
  if (splits === 1) return out;
  const size = info.filterHeight * info.filterWidth * info.inChannels *
    info.outChannels;
  const summed = backend.runWebGPUProgram(
    splitSumProgram(splits, size, [
      info.filterHeight,
      info.filterWidth,
      info.inChannels,
      info.outChannels,
    ]),
    [out],
    "float32",
  );
  backend.disposeData(out.dataId);
  return summed;
}
