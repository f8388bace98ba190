//! The sliding window shared by convolution and pooling: kernel size,
//! stride and zero padding, each as (rows, columns), and the output size
//! they give on an input plane.

use crate::error::{arg_err, shape_err, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Window {
    /// Checks that kernel and stride are at least 1.
    pub fn new(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Result<Self> {
        if kernel.contains(&0) {
            return Err(arg_err!(
                "the kernel size must be at least 1, not {} x {}",
                kernel[0],
                kernel[1]
            ));
        }
        if stride.contains(&0) {
            return Err(arg_err!(
                "the stride must be at least 1, not {} x {}",
                stride[0],
                stride[1]
            ));
        }
        Ok(Window {
            kernel,
            stride,
            padding,
        })
    }

    /// Values under the window in one channel (`usize::MAX` if more).
    pub fn area(&self) -> usize {
        self.kernel[0].saturating_mul(self.kernel[1])
    }

    /// Output rows and columns for an input plane of `height x width`:
    /// `floor((size + 2 * padding - kernel) / stride) + 1`, as PyTorch.
    pub fn output_size(&self, height: usize, width: usize) -> Result<(usize, usize)> {
        let pad = |size: usize, p: usize| p.checked_mul(2).and_then(|p| p.checked_add(size));
        let (Some(rows), Some(cols)) = (pad(height, self.padding[0]), pad(width, self.padding[1]))
        else {
            return Err(shape_err!(
                "has a padding of {} x {}, more than the engine can count",
                self.padding[0],
                self.padding[1]
            ));
        };
        let padded = [rows, cols];
        if padded[0] < self.kernel[0] || padded[1] < self.kernel[1] {
            return Err(shape_err!(
                "has a {} x {} kernel, larger than its {}input ({} x {})",
                self.kernel[0],
                self.kernel[1],
                if self.padding == [0, 0] {
                    ""
                } else {
                    "padded "
                },
                padded[0],
                padded[1]
            ));
        }
        Ok((
            (padded[0] - self.kernel[0]) / self.stride[0] + 1,
            (padded[1] - self.kernel[1]) / self.stride[1] + 1,
        ))
    }

    /// The input index seen by output position `out` at kernel offset `k`
    /// along axis `axis`, or `None` where it falls in the zero padding.
    #[inline]
    pub fn source(&self, axis: usize, out: usize, k: usize, size: usize) -> Option<usize> {
        (out * self.stride[axis] + k)
            .checked_sub(self.padding[axis])
            .filter(|&i| i < size)
    }
}

impl Window {
    /// The output positions (among `0..outputs`) along `axis` whose input
    /// at kernel offset `k` lies inside `0..size`, not in the padding.
    #[inline]
    pub fn inside(
        &self,
        axis: usize,
        k: usize,
        size: usize,
        outputs: usize,
    ) -> std::ops::Range<usize> {
        let (s, p) = (self.stride[axis], self.padding[axis]);
        let end = (size + p).saturating_sub(k).div_ceil(s).min(outputs);
        p.saturating_sub(k).div_ceil(s).min(end)..end
    }

    /// The input indices along `axis` under the window of output position
    /// `out` (the padding left out).
    #[inline]
    pub fn span(&self, axis: usize, out: usize, size: usize) -> std::ops::Range<usize> {
        let start = out * self.stride[axis];
        let end = (start + self.kernel[axis]).saturating_sub(self.padding[axis]);
        start.saturating_sub(self.padding[axis]).min(size)..end.min(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_the_usual_formula() {
        let w = Window::new([3, 3], [1, 1], [0, 0]).unwrap();
        assert_eq!(w.output_size(28, 28).unwrap(), (26, 26));
        let w = Window::new([3, 3], [2, 2], [1, 1]).unwrap();
        assert_eq!(w.output_size(28, 28).unwrap(), (14, 14));
        let w = Window::new([2, 2], [2, 2], [0, 0]).unwrap();
        assert_eq!(w.output_size(26, 26).unwrap(), (13, 13));
        assert_eq!(w.output_size(5, 5).unwrap(), (2, 2));
        assert_eq!(w.source(0, 1, 1, 5), Some(3));
        let padded = Window::new([3, 3], [1, 1], [1, 1]).unwrap();
        assert_eq!(padded.source(0, 0, 0, 5), None);
        assert_eq!(padded.source(0, 4, 2, 5), None);
        assert_eq!(padded.span(0, 0, 5), 0..2);
        assert_eq!(padded.span(0, 4, 5), 3..5);
        assert_eq!(w.span(1, 1, 5), 2..4);
        // Kernel offset 0 with padding 1 reads the padding at output 0.
        assert_eq!(padded.inside(0, 0, 5, 5), 1..5);
        assert_eq!(padded.inside(0, 2, 5, 5), 0..4);
        let strided = Window::new([3, 3], [2, 2], [1, 1]).unwrap();
        // Outputs 0..3 read 2o - 1 + k: for k = 0, -1, 1, 3.
        assert_eq!(strided.inside(1, 0, 5, 3), 1..3);
        assert_eq!(strided.inside(1, 2, 5, 3), 0..2);
        for (axis, k) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2)] {
            for out in 0..3 {
                let inside = strided.inside(axis, k, 5, 3).contains(&out);
                assert_eq!(inside, strided.source(axis, out, k, 5).is_some());
            }
        }
    }

    #[test]
    fn impossible_windows_are_errors() {
        assert!(Window::new([0, 3], [1, 1], [0, 0]).is_err());
        assert!(Window::new([3, 3], [0, 1], [0, 0]).is_err());
        let w = Window::new([5, 5], [1, 1], [0, 0]).unwrap();
        let err = w.output_size(4, 6).unwrap_err().to_string();
        assert_eq!(err, "has a 5 x 5 kernel, larger than its input (4 x 6)");
        let w = Window::new([5, 5], [1, 1], [1, 1]).unwrap();
        assert!(w
            .output_size(2, 2)
            .unwrap_err()
            .to_string()
            .contains("padded input (4 x 4)"));
        assert!(w.output_size(3, 3).is_ok());
    }
}
