//! The STGCN of Yu, Yin and Zhu (IJCAI 2018, "Spatio-Temporal Graph Convolutional Networks"):
//! ST-Conv blocks of gated temporal convolution (GLU), Chebyshev graph convolution and a second
//! gated temporal convolution, each followed by layer normalisation over (nodes, channels), and
//! an output block that predicts every horizon step at once (no autoregressive rollout, so errors
//! do not compound over the horizon).
//!
//! Tensors are laid out `[batch, channels, time, nodes]` as in the paper's code. Parameter names
//! (`st1.tconv1.conv.weight`, ...) are the same as in `reference/stgcn.py`, so a PyTorch
//! `state_dict` saved as safetensors loads with `VarStore::load`.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::error::{ForecastError, Result};

/// The network's shape. Stored in the bundle so a model is rebuilt exactly as trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Graph nodes (lanes); layer norm is over (nodes, channels), so the weights fit one graph.
    pub nodes: i64,
    /// Input features per node and step.
    pub in_channels: i64,
    /// Input steps the model reads.
    pub lookback: i64,
    /// Steps predicted at once.
    pub horizon: i64,
    /// Temporal kernel size.
    pub kt: i64,
    /// Chebyshev polynomial order (number of terms); the paper uses 3.
    pub ks: i64,
    /// Channels of each ST-Conv block: [temporal, spatial, temporal].
    pub blocks: Vec<[i64; 3]>,
    /// Channels of the output block.
    pub output_channels: i64,
    /// Dropout after each ST-Conv block, while training only.
    pub dropout: f64,
}

impl ModelConfig {
    /// The paper's block sizes, for `nodes` lanes and `in_channels` features.
    pub fn paper(nodes: i64, in_channels: i64, lookback: i64, horizon: i64) -> Self {
        Self {
            nodes,
            in_channels,
            lookback,
            horizon,
            kt: 3,
            ks: 3,
            blocks: vec![[64, 16, 64], [64, 16, 64]],
            output_channels: 128,
            dropout: 0.1,
        }
    }

    /// Steps left for the output block's temporal kernel after the ST-Conv blocks.
    pub fn output_kernel(&self) -> i64 {
        self.lookback - 2 * (self.kt - 1) * self.blocks.len() as i64
    }

    /// Rejects shapes the network cannot be built with.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("nodes", self.nodes),
            ("in_channels", self.in_channels),
            ("lookback", self.lookback),
            ("horizon", self.horizon),
            ("kt", self.kt),
            ("ks", self.ks),
            ("output_channels", self.output_channels),
        ];
        for (name, value) in positive {
            if value < 1 {
                return Err(ForecastError::Config(format!(
                    "{name} must be at least 1, got {value}"
                )));
            }
        }
        if self.blocks.is_empty() || self.blocks.iter().flatten().any(|&c| c < 1) {
            return Err(ForecastError::Config(
                "at least one ST-Conv block with positive channel counts is needed".into(),
            ));
        }
        if self.output_kernel() < 1 {
            return Err(ForecastError::Config(format!(
                "a lookback of {} steps is too short for {} blocks with temporal kernel {} (needs more than {})",
                self.lookback,
                self.blocks.len(),
                self.kt,
                2 * (self.kt - 1) * self.blocks.len() as i64
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ForecastError::Config(format!(
                "dropout {} is outside [0, 1)",
                self.dropout
            )));
        }
        Ok(())
    }
}

/// Residual path of a layer whose channel count changes: a 1x1 convolution when channels shrink,
/// zero padding when they grow (as in the paper), nothing when equal.
#[derive(Debug)]
enum Align {
    Identity,
    Pad(i64),
    Conv(nn::Conv2D),
}

impl Align {
    fn new(p: nn::Path, c_in: i64, c_out: i64) -> Self {
        match c_in.cmp(&c_out) {
            std::cmp::Ordering::Equal => Align::Identity,
            std::cmp::Ordering::Less => Align::Pad(c_out - c_in),
            std::cmp::Ordering::Greater => Align::Conv(nn::conv(
                p / "align",
                c_in,
                c_out,
                [1, 1],
                Default::default(),
            )),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Align::Identity => x.shallow_clone(),
            // Pad the channel dimension (dim 1 of [B, C, T, N]) at its end.
            Align::Pad(extra) => x.constant_pad_nd([0, 0, 0, 0, 0, *extra]),
            Align::Conv(conv) => conv.forward(x),
        }
    }
}

/// Gated temporal convolution: `(P + residual) * sigmoid(Q)`, kernel `kt` along time, no padding.
#[derive(Debug)]
struct TemporalGlu {
    conv: nn::Conv2D,
    align: Align,
    kt: i64,
    c_out: i64,
}

impl TemporalGlu {
    fn new(p: nn::Path, kt: i64, c_in: i64, c_out: i64) -> Self {
        Self {
            conv: nn::conv(&p / "conv", c_in, 2 * c_out, [kt, 1], Default::default()),
            align: Align::new(p, c_in, c_out),
            kt,
            c_out,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let t = x.size()[2];
        let residual = self
            .align
            .forward(x)
            .narrow(2, self.kt - 1, t - self.kt + 1);
        let conv = self.conv.forward(x);
        let p = conv.narrow(1, 0, self.c_out);
        let q = conv.narrow(1, self.c_out, self.c_out);
        (p + residual) * q.sigmoid()
    }
}

/// Chebyshev graph convolution over the node dimension with the scaled Laplacian, plus the
/// residual and a ReLU.
#[derive(Debug)]
struct ChebConv {
    /// `[ks, c_in, c_out]`
    weight: Tensor,
    bias: Tensor,
    align: Align,
    ks: i64,
}

impl ChebConv {
    fn new(p: nn::Path, ks: i64, c_in: i64, c_out: i64) -> Self {
        let bound = 1.0 / ((ks * c_in) as f64).sqrt();
        Self {
            weight: p.var(
                "weight",
                &[ks, c_in, c_out],
                nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            ),
            bias: p.var("bias", &[c_out], nn::Init::Const(0.0)),
            align: Align::new(p, c_in, c_out),
            ks,
        }
    }

    /// `x`: `[B, C, T, N]`; `laplacian_t`: the transposed scaled Laplacian `[N, N]`.
    fn forward(&self, x: &Tensor, laplacian_t: &Tensor) -> Tensor {
        // T_0 = x, T_1 = L x, T_k = 2 L T_{k-1} - T_{k-2}; `x.matmul(L^T)` applies L per node row.
        let mut terms: Vec<Tensor> = vec![x.shallow_clone()];
        if self.ks > 1 {
            terms.push(x.matmul(laplacian_t));
        }
        for k in 2..self.ks as usize {
            let next = terms[k - 1].matmul(laplacian_t) * 2.0 - &terms[k - 2];
            terms.push(next);
        }
        // [K, B, C, T, N] x [K, C, D] -> [B, D, T, N]
        let stacked = Tensor::stack(&terms, 0);
        let out = Tensor::einsum("kbctn,kcd->bdtn", &[&stacked, &self.weight], None::<i64>)
            + self.bias.view([1, -1, 1, 1]);
        (out + self.align.forward(x)).relu()
    }
}

/// Layer norm over (nodes, channels) of a `[B, C, T, N]` tensor.
fn norm_nodes_channels(ln: &nn::LayerNorm, x: &Tensor) -> Tensor {
    ln.forward(&x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
}

#[derive(Debug)]
struct StConvBlock {
    tconv1: TemporalGlu,
    gconv: ChebConv,
    tconv2: TemporalGlu,
    ln: nn::LayerNorm,
}

impl StConvBlock {
    fn new(p: nn::Path, cfg: &ModelConfig, c_in: i64, channels: [i64; 3]) -> Self {
        let [c_t, c_s, c_o] = channels;
        Self {
            tconv1: TemporalGlu::new(&p / "tconv1", cfg.kt, c_in, c_t),
            gconv: ChebConv::new(&p / "gconv", cfg.ks, c_t, c_s),
            tconv2: TemporalGlu::new(&p / "tconv2", cfg.kt, c_s, c_o),
            ln: nn::layer_norm(&p / "ln", vec![cfg.nodes, c_o], Default::default()),
        }
    }

    fn forward(&self, x: &Tensor, laplacian_t: &Tensor) -> Tensor {
        let x = self.tconv1.forward(x);
        let x = self.gconv.forward(&x, laplacian_t);
        let x = self.tconv2.forward(&x);
        norm_nodes_channels(&self.ln, &x)
    }
}

#[derive(Debug)]
struct OutputBlock {
    tconv: TemporalGlu,
    ln: nn::LayerNorm,
    fc1: nn::Conv2D,
    fc2: nn::Conv2D,
}

impl OutputBlock {
    fn new(p: nn::Path, cfg: &ModelConfig, c_in: i64) -> Self {
        let c = cfg.output_channels;
        Self {
            tconv: TemporalGlu::new(&p / "tconv", cfg.output_kernel(), c_in, c),
            ln: nn::layer_norm(&p / "ln", vec![cfg.nodes, c], Default::default()),
            fc1: nn::conv(&p / "fc1", c, c, [1, 1], Default::default()),
            fc2: nn::conv(&p / "fc2", c, cfg.horizon, [1, 1], Default::default()),
        }
    }

    /// `[B, C, K, N]` -> `[B, horizon, N]`
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = self.tconv.forward(x);
        let x = norm_nodes_channels(&self.ln, &x);
        let x = self.fc1.forward(&x).sigmoid();
        self.fc2.forward(&x).squeeze_dim(2)
    }
}

/// The network with its graph. Variables live in the `VarStore` passed to [`Stgcn::new`].
#[derive(Debug)]
pub struct Stgcn {
    config: ModelConfig,
    blocks: Vec<StConvBlock>,
    output: OutputBlock,
    laplacian_t: Tensor,
}

impl Stgcn {
    /// Builds the network under `p` for the scaled Laplacian `laplacian` (`nodes x nodes`,
    /// row-major).
    pub fn new(p: &nn::Path, config: ModelConfig, laplacian: &[f32]) -> Result<Self> {
        config.validate()?;
        let n = config.nodes;
        if laplacian.len() as i64 != n * n {
            return Err(ForecastError::Config(format!(
                "the Laplacian has {} entries, {n} nodes need {}",
                laplacian.len(),
                n * n
            )));
        }
        let laplacian_t = Tensor::from_slice(laplacian)
            .view([n, n])
            .tr()
            .contiguous()
            .to_device(p.device());
        let mut c_in = config.in_channels;
        let mut blocks = Vec::with_capacity(config.blocks.len());
        for (i, channels) in config.blocks.iter().enumerate() {
            blocks.push(StConvBlock::new(
                p / format!("st{}", i + 1),
                &config,
                c_in,
                *channels,
            ));
            c_in = channels[2];
        }
        let output = OutputBlock::new(p / "out", &config, c_in);
        Ok(Self {
            config,
            blocks,
            output,
            laplacian_t,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// `x`: `[B, in_channels, lookback, nodes]` (float) -> `[B, horizon, nodes]`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.to_kind(Kind::Float);
        for block in &self.blocks {
            h = block.forward(&h, &self.laplacian_t);
            h = h.dropout(self.config.dropout, train);
        }
        self.output.forward(&h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(nodes: i64) -> ModelConfig {
        ModelConfig {
            nodes,
            in_channels: 2,
            lookback: 12,
            horizon: 4,
            kt: 3,
            ks: 3,
            blocks: vec![[8, 4, 8], [8, 4, 8]],
            output_channels: 8,
            dropout: 0.0,
        }
    }

    #[test]
    fn output_has_one_value_per_step_and_node() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let n = 5;
        let lap: Vec<f32> = (0..n * n)
            .map(|i| if i % (n + 1) == 0 { 0.0 } else { -0.1 })
            .collect();
        let model = Stgcn::new(&vs.root(), tiny(n as i64), &lap).expect("model");
        let y = model.forward_t(
            &Tensor::randn([3, 2, 12, n as i64], (Kind::Float, tch::Device::Cpu)),
            false,
        );
        assert_eq!(y.size(), vec![3, 4, n as i64]);
    }

    #[test]
    fn too_short_lookback_is_rejected() {
        let mut cfg = tiny(3);
        cfg.lookback = 8;
        assert!(cfg.validate().is_err());
        cfg.lookback = 9;
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn parameter_names_follow_the_reference() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let lap = vec![0.0f32; 9];
        let _model = Stgcn::new(&vs.root(), tiny(3), &lap).expect("model");
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        for expected in [
            "st1.tconv1.conv.weight",
            "st1.gconv.align.weight",
            "st1.gconv.weight",
            "st1.gconv.align.bias",
            "st1.ln.weight",
            "st2.tconv2.conv.bias",
            "out.tconv.conv.weight",
            "out.fc2.weight",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing from {names:?}"
            );
        }
    }
}
