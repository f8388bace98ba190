//! The shape of one sample as it flows through a network.
//!
//! Every batch is a row-major matrix with one sample per row, whatever the
//! layers: an image sample of `channels x height x width` is stored as one
//! row of `channels * height * width` values in that order (width fastest,
//! as PyTorch flattens NCHW tensors). A `Shape` says how a row is to be read;
//! plain feature vectors are `k x 1 x 1`. Convolution and pooling read the
//! spatial layout, dense layers only the total size, so flattening an image
//! costs nothing.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// A vector of features rather than an image (an image may be 1 x 1).
    flat: bool,
}

impl Shape {
    /// The most values one sample may hold: beyond it, sizes are a mistake
    /// (a padding of 100,000) rather than a network to build.
    pub const MAX_SIZE: usize = i32::MAX as usize;

    /// A vector of `k` features.
    pub fn flat(k: usize) -> Self {
        Shape {
            channels: k,
            height: 1,
            width: 1,
            flat: true,
        }
    }

    pub fn image(channels: usize, height: usize, width: usize) -> Self {
        Shape {
            channels,
            height,
            width,
            flat: false,
        }
    }

    /// Values per sample, if they fit in [`Shape::MAX_SIZE`] and so does
    /// each dimension (layers size buffers by a row or a plane, so an empty
    /// 0 x 1 x 10^12 sample is no more possible than a full one).
    pub fn checked_size(self) -> Option<usize> {
        if self.channels.max(self.height).max(self.width) > Self::MAX_SIZE {
            return None;
        }
        self.channels
            .checked_mul(self.height)?
            .checked_mul(self.width)
            .filter(|&n| n <= Self::MAX_SIZE)
    }

    /// Values per sample.
    pub fn size(self) -> usize {
        self.channels * self.height * self.width
    }

    /// Values per channel.
    pub fn plane(self) -> usize {
        self.height * self.width
    }

    pub fn is_flat(self) -> bool {
        self.flat
    }

    /// The same values seen as a flat vector.
    pub fn flattened(self) -> Self {
        Shape::flat(self.size())
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_flat() {
            write!(f, "{}", self.channels)
        } else {
            write!(f, "{} x {} x {}", self.channels, self.height, self.width)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_display() {
        let s = Shape::image(16, 13, 13);
        assert_eq!(s.size(), 2704);
        assert_eq!(s.plane(), 169);
        assert_eq!(s.to_string(), "16 x 13 x 13");
        assert_eq!(s.flattened(), Shape::flat(2704));
        assert_eq!(Shape::flat(10).to_string(), "10");
        assert!(!s.is_flat());
        assert!(!Shape::image(4, 1, 1).is_flat());
        assert_eq!(Shape::image(4, 1, 1).to_string(), "4 x 1 x 1");
        assert_eq!(Shape::image(1 << 20, 1 << 10, 4).checked_size(), None);
        assert_eq!(Shape::image(2, 3, 4).checked_size(), Some(24));
        assert_eq!(Shape::image(0, 1, 1 << 40).checked_size(), None);
    }
}
