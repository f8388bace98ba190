//! Reading a model file's payload without trusting it: a zlib stream
//! inflated with a bound on its output, then R's XDR serialization (format
//! versions 2 and 3, as `serialize(x, NULL, xdr = TRUE)` writes it) read as
//! plain data only, into a [`Item`] tree with no R types.
//!
//! Why not R's own `unserialize()`: it builds whatever the bytes describe,
//! forcing promises (CVE-2024-27322), loading the packages of namespace
//! references (running their `.onLoad`), recursing on the C stack as deep as
//! the bytes nest, and allocating whatever lengths they claim. This reader
//! accepts logical, integer, double and string vectors, lists, attributes
//! whose tags are symbols and, for the formula terms of old model files,
//! calls (read as a tree that is only ever turned into text, see
//! [`call_text`]); everything else is an error naming what it is. Nesting
//! is bounded, every length is checked against the bytes left before
//! anything is allocated, and the number of list elements and strings is
//! bounded, so the tree stays within a small multiple of the payload.

use crate::error::{NnError, Result};

/// Data may nest this deep (lists in lists, attributes of attributes).
pub const MAX_DEPTH: usize = 64;
/// Calls may nest this deep inside one another: `y ~ x1 + x2 + ... + xn`
/// nests `n` deep, so old files of formulas with many terms still load.
pub const MAX_CALL_DEPTH: usize = 1024;
/// At most this many list elements, strings and call arguments in all.
pub const MAX_NODES: usize = 1 << 22;

fn corrupt(msg: impl Into<String>) -> NnError {
    NnError::InvalidArgument(msg.into())
}

/// Inflates a zlib stream (RFC 1950, its Adler-32 checked) into at most
/// `limit` bytes; a stream that would give more is an error. With `exact`,
/// the output must be exactly `limit` bytes, and is written into one buffer
/// of that size (a growing buffer would take up to twice as much); the
/// allocation is fallible, so a size the machine cannot hold is an error.
pub fn inflate(z: &[u8], limit: usize, exact: bool) -> Result<Vec<u8>> {
    use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
    use miniz_oxide::inflate::TINFLStatus;
    // Without `exact`, start small and grow: `limit` is only a bound.
    let mut out: Vec<u8> = Vec::new();
    let first = if exact {
        limit
    } else {
        limit.min(z.len().saturating_mul(4))
    };
    grow(&mut out, first.saturating_add(1))?;
    let mut state = Box::<DecompressorOxide>::default();
    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (mut input, mut written) = (z, 0);
    loop {
        let (status, read, n) = decompress(&mut state, input, &mut out, written, flags);
        input = &input[read..];
        written += n;
        match status {
            TINFLStatus::Done => break,
            TINFLStatus::HasMoreOutput if written <= limit => {
                let bigger = out.len().saturating_mul(2).min(limit.saturating_add(1));
                grow(&mut out, bigger)?;
            }
            TINFLStatus::HasMoreOutput => break,
            other => {
                return Err(corrupt(format!(
                    "the model data do not decompress ({other:?})"
                )))
            }
        }
    }
    if written > limit {
        return Err(corrupt(format!(
            "the model data decompress to more than {limit} bytes{}",
            if exact {
                ", the size its header announces"
            } else {
                ", the most a file of this size may hold"
            }
        )));
    }
    if exact && written != limit {
        return Err(corrupt(format!(
            "the model data decompress to {written} bytes, not the {limit} its header announces"
        )));
    }
    out.truncate(written);
    Ok(out)
}

/// Grows `out` to `len` zeroed bytes, or an error if memory runs out.
fn grow(out: &mut Vec<u8>, len: usize) -> Result<()> {
    out.try_reserve_exact(len.saturating_sub(out.len()))
        .map_err(|_| {
            corrupt(format!(
                "the model data need {len} bytes, more than are available"
            ))
        })?;
    out.resize(len, 0);
    Ok(())
}

/// One value of the payload with its attributes (in the file's order).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub value: Value,
    pub attributes: Vec<(String, Item)>,
}

/// What a value can be. Logical vectors keep R's encoding (`0`, `1`, and
/// `i32::MIN` for `NA`); doubles keep their bits (R's `NA_real_` is a NaN
/// with a payload).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Logical(Vec<i32>),
    Integer(Vec<i32>),
    Real(Vec<f64>),
    Str(Vec<Option<String>>),
    List(Vec<Item>),
    /// A call: its function then its arguments, each with its name if any.
    Call(Vec<(Option<String>, Item)>),
    /// A name, only inside a call.
    Symbol(String),
    /// An empty argument (`x[, 1]`), only inside a call.
    Missing,
}

impl Item {
    fn plain(value: Value) -> Item {
        Item {
            value,
            attributes: Vec::new(),
        }
    }
}

// Serialization type codes (R's Rinternals.h and serialize.c).
const SYMSXP: u8 = 1;
const LISTSXP: u8 = 2;
const LANGSXP: u8 = 6;
const CHARSXP: u8 = 9;
const LGLSXP: u8 = 10;
const INTSXP: u8 = 13;
const REALSXP: u8 = 14;
const STRSXP: u8 = 16;
const VECSXP: u8 = 19;
const ALTREP_SXP: u8 = 238;
const MISSINGARG_SXP: u8 = 251;
const NILVALUE_SXP: u8 = 254;
const REFSXP: u8 = 255;

const HAS_ATTR: i32 = 1 << 9;
const HAS_TAG: i32 = 1 << 10;
// Bits of the "levels" field (flags >> 12).
const S4_OBJECT: i32 = 1 << 4;
const LATIN1: i32 = 1 << 2;
const BYTES: i32 = 1 << 1;

/// The strings of a deferred `as.character()` of integers. Of doubles,
/// which R formats by its own rules (digits, `scipen`), it is refused.
fn deferred_strings(arg: Value) -> Result<Value> {
    match arg {
        Value::Integer(v) => Ok(Value::Str(
            v.iter()
                .map(|&i| (i != i32::MIN).then(|| i.to_string()))
                .collect(),
        )),
        _ => Err(corrupt(
            "the model data hold doubles converted to strings lazily, which this reader does not read",
        )),
    }
}

fn not_allowed(what: &str) -> NnError {
    corrupt(format!(
        "the model data hold {what}, which a model file may not"
    ))
}

/// What a type code the reader refuses is, for the error message.
fn refused(code: u8) -> String {
    let what = match code {
        3 => "a function",
        4 => "an environment",
        5 => "a promise (code run when it is read)",
        7 | 8 => "a built-in function",
        15 => "complex numbers",
        17 | 18 => "an internal R object",
        20 => "an expression vector",
        21 => "byte code",
        22 => "an external pointer",
        23 => "a weak reference",
        24 => "raw bytes",
        25 => "an S4 object",
        241..=243 | 253 => "an environment",
        244..=247 => "a reference to R internals",
        248 => "a package environment",
        249 | 250 => "a namespace (a package's code)",
        239 | 240 => "an old-style pairlist",
        252 => "an unbound value",
        _ => "an object of unknown type",
    };
    format!("{what} (type {code})")
}

/// The plain data a serialization holds, or an error naming what it holds
/// that a model file may not.
pub fn read_serialized(bytes: &[u8]) -> Result<Item> {
    let mut r = Reader {
        bytes,
        pos: 0,
        symbols: Vec::new(),
        nodes: 0,
        expanded: 0,
    };
    r.header()?;
    let item = r.item(Context::Data, 0, 0)?;
    if r.pos != bytes.len() {
        return Err(corrupt(format!(
            "{} bytes follow the model data",
            bytes.len() - r.pos
        )));
    }
    Ok(item)
}

/// Where an item is read: symbols and empty arguments only make sense
/// inside a call.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    Data,
    Call,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The reference table: serialize writes a symbol once, then refers to
    /// it by its index here. Nothing else the reader accepts is referenced.
    symbols: Vec<String>,
    nodes: usize,
    /// Bytes of values the reader made beyond those it read: names copied
    /// for each reference to a symbol, and compact sequences expanded.
    /// Bounded by [`Reader::expansion_cap`], so a small file cannot make a
    /// large tree (a reference is 4 bytes; the name it copies may be 10 KB).
    expanded: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(corrupt("the model data end early"));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn int(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn header(&mut self) -> Result<()> {
        if self.take(2)? != b"X\n" {
            return Err(corrupt(
                "the model data are not an R serialization in XDR format",
            ));
        }
        let version = self.int()?;
        let _writer = self.int()?;
        let _min_reader = self.int()?;
        match version {
            2 => Ok(()),
            3 => {
                let n = self.int()?;
                if !(0..=64).contains(&n) {
                    return Err(corrupt("the model data name an invalid encoding"));
                }
                self.take(n as usize)?;
                Ok(())
            }
            v => Err(corrupt(format!(
                "the model data are of serialization version {v}, not 2 or 3"
            ))),
        }
    }

    /// What the reader may make beyond the bytes it reads: 16 times the
    /// payload, and 1 MiB.
    fn expansion_cap(&self) -> usize {
        self.bytes.len().saturating_mul(16).saturating_add(1 << 20)
    }

    /// Counts `n` bytes made beyond those read against the expansion cap.
    fn expand(&mut self, n: usize) -> Result<()> {
        self.expanded = self.expanded.saturating_add(n);
        if self.expanded > self.expansion_cap() {
            return Err(corrupt(format!(
                "the model data would expand to more than {} bytes",
                self.expansion_cap()
            )));
        }
        Ok(())
    }

    /// Counts list elements, strings and arguments against [`MAX_NODES`].
    fn count(&mut self, n: usize) -> Result<()> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(corrupt(format!(
                "the model data hold more than {MAX_NODES} list elements and strings"
            )));
        }
        Ok(())
    }

    /// A vector's length, refused unless the bytes left can hold `n`
    /// elements of at least `size` bytes each (so nothing is allocated that
    /// the bytes cannot fill).
    fn length(&mut self, size: usize) -> Result<usize> {
        let n = match self.int()? {
            -1 => {
                let hi = self.int()? as u32 as u64;
                let lo = self.int()? as u32 as u64;
                (hi << 32) | lo
            }
            n if n >= 0 => n as u64,
            n => return Err(corrupt(format!("the model data hold a length of {n}"))),
        };
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(size) <= self.remaining() => Ok(n),
            _ => Err(corrupt(format!(
                "the model data announce a vector of {n} elements, more than they hold"
            ))),
        }
    }

    fn item(&mut self, ctx: Context, depth: usize, call_depth: usize) -> Result<Item> {
        if depth > MAX_DEPTH {
            return Err(corrupt(format!(
                "the model data nest deeper than {MAX_DEPTH} levels"
            )));
        }
        let flags = self.int()?;
        let code = (flags & 0xff) as u8;
        let levels = flags >> 12;
        if levels & S4_OBJECT != 0 && code != CHARSXP && code != REFSXP {
            return Err(not_allowed(&refused(25)));
        }
        let value = match code {
            NILVALUE_SXP => return Ok(Item::plain(Value::Null)),
            LGLSXP => Value::Logical(self.ints()?),
            INTSXP => Value::Integer(self.ints()?),
            REALSXP => Value::Real(self.reals()?),
            STRSXP => Value::Str(self.strings()?),
            VECSXP => {
                let n = self.length(4)?;
                self.count(n)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.item(Context::Data, depth + 1, call_depth)?);
                }
                Value::List(items)
            }
            LANGSXP => return self.call(flags, depth, call_depth),
            ALTREP_SXP => return self.altrep(depth, call_depth),
            // A symbol has no attributes; a reference's flags hold its index.
            SYMSXP | REFSXP if ctx == Context::Call => {
                return Ok(Item::plain(Value::Symbol(self.symbol_after(flags)?)))
            }
            MISSINGARG_SXP if ctx == Context::Call => return Ok(Item::plain(Value::Missing)),
            SYMSXP | REFSXP | MISSINGARG_SXP => {
                return Err(not_allowed("a name outside a formula"))
            }
            LISTSXP => return Err(not_allowed("a pairlist outside attributes")),
            other => return Err(not_allowed(&refused(other))),
        };
        let attributes = if flags & HAS_ATTR != 0 {
            self.attributes(depth + 1, call_depth)?
        } else {
            Vec::new()
        };
        check_attributes(&value, &attributes)?;
        Ok(Item { value, attributes })
    }

    fn ints(&mut self) -> Result<Vec<i32>> {
        let n = self.length(4)?;
        let b = self.take(n * 4)?;
        Ok(b.chunks_exact(4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn reals(&mut self) -> Result<Vec<f64>> {
        let n = self.length(8)?;
        let b = self.take(n * 8)?;
        Ok(b.chunks_exact(8)
            .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }

    fn strings(&mut self) -> Result<Vec<Option<String>>> {
        // Each string takes at least its flags and its length.
        let n = self.length(8)?;
        self.count(n)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.charsxp()?);
        }
        Ok(out)
    }

    /// One string (`None` for `NA`), as UTF-8: strings marked latin1 are
    /// converted; bytes that are not text are refused.
    fn charsxp(&mut self) -> Result<Option<String>> {
        let flags = self.int()?;
        if (flags & 0xff) as u8 != CHARSXP {
            return Err(corrupt("the model data hold a malformed string"));
        }
        let levels = flags >> 12;
        let n = self.int()?;
        if n == -1 {
            return Ok(None);
        }
        let n =
            usize::try_from(n).map_err(|_| corrupt("the model data hold a malformed string"))?;
        let b = self.take(n)?;
        // R's strings end at a NUL: R refuses to make one that holds it.
        if b.contains(&0) {
            return Err(corrupt("the model data hold a string with a NUL byte"));
        }
        if levels & LATIN1 != 0 {
            return Ok(Some(b.iter().map(|&c| char::from(c)).collect()));
        }
        if levels & BYTES != 0 {
            return Err(corrupt("the model data hold a string of raw bytes"));
        }
        String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|_| corrupt("the model data hold a string that is not valid UTF-8"))
    }

    /// A symbol, its flags read: a new one (added to the reference table)
    /// or a reference to one read before.
    fn symbol_after(&mut self, flags: i32) -> Result<String> {
        match (flags & 0xff) as u8 {
            SYMSXP => {
                let name = self
                    .charsxp()?
                    .ok_or_else(|| corrupt("the model data hold a symbol named NA"))?;
                self.symbols.push(name.clone());
                Ok(name)
            }
            REFSXP => {
                let index = match flags >> 8 {
                    0 => self.int()?,
                    i => i,
                };
                let name = usize::try_from(index)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| self.symbols.get(i))
                    .cloned()
                    .ok_or_else(|| {
                        corrupt(format!(
                            "the model data refer to a missing object ({index})"
                        ))
                    })?;
                self.expand(name.len())?;
                Ok(name)
            }
            other => Err(corrupt(format!(
                "the model data hold {} where a name must be",
                refused(other)
            ))),
        }
    }

    fn symbol(&mut self) -> Result<String> {
        let flags = self.int()?;
        self.symbol_after(flags)
    }

    /// An attribute pairlist: `(tag, value)` nodes ending in `NULL`, read
    /// in a loop (a long pairlist does not nest).
    fn attributes(&mut self, depth: usize, call_depth: usize) -> Result<Vec<(String, Item)>> {
        let mut out = Vec::new();
        let mut flags = self.int()?;
        loop {
            match (flags & 0xff) as u8 {
                NILVALUE_SXP => return Ok(out),
                LISTSXP if flags & HAS_TAG != 0 && flags & HAS_ATTR == 0 => {}
                _ => return Err(corrupt("the model data hold malformed attributes")),
            }
            self.count(1)?;
            let name = self.symbol()?;
            // R refuses (with an error) to make a name empty or this long.
            if name.is_empty() || name.len() > 10_000 {
                return Err(corrupt(
                    "the model data hold an attribute with an invalid name",
                ));
            }
            let value = self.item(Context::Data, depth, call_depth)?;
            out.push((name, value));
            flags = self.int()?;
        }
    }

    /// A call (flags read): attributes, function, then the arguments as a
    /// chain of pairlist nodes, read in a loop.
    fn call(&mut self, flags: i32, depth: usize, call_depth: usize) -> Result<Item> {
        if call_depth >= MAX_CALL_DEPTH {
            return Err(corrupt(format!(
                "the model data hold calls nested deeper than {MAX_CALL_DEPTH} levels"
            )));
        }
        let attributes = if flags & HAS_ATTR != 0 {
            self.attributes(depth + 1, call_depth)?
        } else {
            Vec::new()
        };
        if flags & HAS_TAG != 0 {
            return Err(corrupt("the model data hold a malformed call"));
        }
        let head = self.item(Context::Call, depth, call_depth + 1)?;
        let mut parts = vec![(None, head)];
        loop {
            let flags = self.int()?;
            match (flags & 0xff) as u8 {
                NILVALUE_SXP => break,
                LISTSXP if flags & HAS_ATTR == 0 => {}
                _ => return Err(corrupt("the model data hold a malformed call")),
            }
            self.count(1)?;
            let name = if flags & HAS_TAG != 0 {
                Some(self.symbol()?)
            } else {
                None
            };
            parts.push((name, self.item(Context::Call, depth, call_depth + 1)?));
        }
        Ok(Item {
            value: Value::Call(parts),
            attributes,
        })
    }

    /// A compact vector (R >= 3.5 writes some vectors by their recipe):
    /// the base package's sequences, wrappers and deferred strings of
    /// integers are expanded; any other class is refused, unloaded.
    fn altrep(&mut self, depth: usize, call_depth: usize) -> Result<Item> {
        // info: pairlist(class symbol, package symbol, type).
        let mut info = Vec::new();
        for _ in 0..3 {
            if (self.int()? & 0xff) as u8 != LISTSXP {
                return Err(corrupt("the model data hold a malformed compact vector"));
            }
            let flags = self.int()?;
            info.push(match (flags & 0xff) as u8 {
                SYMSXP | REFSXP => self.symbol_after(flags)?,
                INTSXP => {
                    self.ints()?;
                    String::new()
                }
                _ => return Err(corrupt("the model data hold a malformed compact vector")),
            });
        }
        if (self.int()? & 0xff) as u8 != NILVALUE_SXP {
            return Err(corrupt("the model data hold a malformed compact vector"));
        }
        let (class, package) = (info[0].as_str(), info[1].as_str());
        if package != "base" {
            return Err(not_allowed(&format!(
                "a compact vector of class {class} from package {package}"
            )));
        }
        let value = match class {
            "compact_intseq" | "compact_realseq" => {
                let state = self.item(Context::Data, depth + 1, call_depth)?;
                self.sequence(&state.value, class == "compact_intseq")?
            }
            "wrap_logical" | "wrap_integer" | "wrap_real" | "wrap_string" | "wrap_list" => {
                let (wrapped, _meta) = self.state_pair(depth, call_depth)?;
                wrapped.value
            }
            "deferred_string" => {
                let (arg, _scipen) = self.state_pair(depth, call_depth)?;
                deferred_strings(arg.value)?
            }
            _ => return Err(not_allowed(&format!("a compact vector of class {class}"))),
        };
        let flags = self.int()?;
        let attributes = match (flags & 0xff) as u8 {
            NILVALUE_SXP => Vec::new(),
            LISTSXP => {
                self.pos -= 4;
                self.attributes(depth + 1, call_depth)?
            }
            _ => return Err(corrupt("the model data hold a malformed compact vector")),
        };
        check_attributes(&value, &attributes)?;
        Ok(Item { value, attributes })
    }

    /// The state of a wrapper or deferred string: a pairlist of two items.
    fn state_pair(&mut self, depth: usize, call_depth: usize) -> Result<(Item, Item)> {
        let flags = self.int()?;
        if (flags & 0xff) as u8 != LISTSXP || flags & (HAS_TAG | HAS_ATTR) != 0 {
            return Err(corrupt("the model data hold a malformed compact vector"));
        }
        let first = self.item(Context::Data, depth + 1, call_depth)?;
        let second = self.item(Context::Data, depth + 1, call_depth)?;
        Ok((first, second))
    }

    /// `n1, n1 + inc, ...` from a compact sequence's state `c(n, n1, inc)`,
    /// its values counted against the expansion cap that all of them share.
    fn sequence(&mut self, state: &Value, integer: bool) -> Result<Value> {
        let bad = || corrupt("the model data hold a malformed compact sequence");
        let (n, n1, inc) = match state {
            Value::Real(v) if v.len() == 3 => (v[0], v[1], v[2]),
            _ => return Err(bad()),
        };
        let cap = self.expansion_cap() as f64;
        if !(n >= 0.0 && n.fract() == 0.0 && n <= cap && n1.is_finite())
            || !(inc == 1.0 || inc == -1.0)
        {
            return Err(bad());
        }
        let n = n as usize;
        // Every sequence of the payload shares one budget.
        self.expand(n.saturating_mul(if integer { 4 } else { 8 }))?;
        if integer {
            let end = n1 + inc * (n as f64 - 1.0).max(0.0);
            if n > 0 && (end.abs() > i32::MAX as f64 || n1.abs() > i32::MAX as f64) {
                return Err(bad());
            }
            let (n1, inc) = (n1 as i64, inc as i64);
            Ok(Value::Integer(
                (0..n as i64).map(|i| (n1 + i * inc) as i32).collect(),
            ))
        } else {
            Ok(Value::Real((0..n).map(|i| n1 + i as f64 * inc).collect()))
        }
    }
}

impl Value {
    /// The length R gives the vector (0 for what is not a vector).
    pub fn len(&self) -> usize {
        match self {
            Value::Logical(v) | Value::Integer(v) => v.len(),
            Value::Real(v) => v.len(),
            Value::Str(v) => v.len(),
            Value::List(v) => v.len(),
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Refuses the attributes R would refuse to set (its `setAttrib()` checks
/// `names`, `dim`, `dimnames`, `class`, `comment`, `row.names` and `tsp`), in
/// the order they are set, so that the glue can set them without an R error
/// (which would unwind through Rust): what is read is what R could build.
fn check_attributes(value: &Value, attributes: &[(String, Item)]) -> Result<()> {
    let bad = |name: &str| corrupt(format!("the model data hold an invalid `{name}` attribute"));
    let mut dim: Option<&[i32]> = None;
    for (name, attr) in attributes {
        let a = &attr.value;
        let ok = match (name.as_str(), a) {
            (_, Value::Null) => true,
            ("names", Value::Str(v)) => v.len() == value.len(),
            ("dim", Value::Integer(d)) => {
                let total = d.iter().try_fold(1u128, |acc, &x| {
                    (x >= 0).then(|| acc.saturating_mul(x as u128))
                });
                dim = Some(d);
                !d.is_empty() && total == Some(value.len() as u128)
            }
            ("dimnames", Value::List(v)) => dim.is_some_and(|d| {
                v.len() == d.len()
                    && v.iter().zip(d).all(|(n, &k)| match &n.value {
                        Value::Null => true,
                        Value::Str(s) => s.is_empty() || s.len() == k as usize,
                        _ => false,
                    })
            }),
            ("class", Value::Str(v)) => {
                let factor = v.iter().any(|c| c.as_deref() == Some("factor"));
                !factor || matches!(value, Value::Integer(_))
            }
            ("comment", Value::Str(_)) => true,
            ("row.names", Value::Integer(_) | Value::Str(_)) => true,
            ("names" | "dim" | "dimnames" | "class" | "comment" | "row.names" | "tsp", _) => false,
            _ => true,
        };
        if !ok {
            return Err(bad(name));
        }
        if name == "dim" && matches!(a, Value::Null) {
            dim = None;
        }
    }
    Ok(())
}

/// A call as R source text, in prefix form with every name quoted
/// (`` `~`(`y`, `+`(`x`, `log`(`z`))) ``): R parses it back to the same
/// call, and writing it needs no knowledge of operators or precedence.
/// Constants are written as R would read them (lists and vectors as calls
/// to `list()` and `c()`); a constant with attributes other than names is
/// refused.
pub fn call_text(item: &Item) -> Result<String> {
    let mut out = String::new();
    write_text(item, &mut out)?;
    Ok(out)
}

fn write_text(item: &Item, out: &mut String) -> Result<()> {
    let names = names_of(item)?;
    match &item.value {
        Value::Call(parts) => {
            if !item.attributes.is_empty() {
                return Err(corrupt("a call in the model data has attributes"));
            }
            if let Some((op, left, right)) = infix(item) {
                write_operand(left, &op, Side::Left, out)?;
                out.push(' ');
                out.push_str(&op.name);
                out.push(' ');
                return write_operand(right, &op, Side::Right, out);
            }
            write_text(&parts[0].1, out)?;
            out.push('(');
            for (i, (name, arg)) in parts[1..].iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if let Some(name) = name {
                    push_name(name, out);
                    out.push_str(" = ");
                }
                write_text(arg, out)?;
            }
            out.push(')');
        }
        Value::Symbol(name) => push_name(name, out),
        Value::Missing => {}
        Value::Null => out.push_str("NULL"),
        Value::Logical(v) => write_vector(v, names, out, |&x, o| {
            o.push_str(match x {
                0 => "FALSE",
                i32::MIN => "NA",
                _ => "TRUE",
            })
        }),
        Value::Integer(v) => write_vector(v, names, out, |&x, o| {
            if x == i32::MIN {
                o.push_str("NA_integer_");
            } else {
                o.push_str(&format!("{x}L"));
            }
        }),
        Value::Real(v) => write_vector(v, names, out, |&x, o| o.push_str(&real_text(x))),
        Value::Str(v) => write_vector(v, names, out, |x, o| match x {
            None => o.push_str("NA_character_"),
            Some(s) => push_string(s, o),
        }),
        Value::List(v) => {
            out.push_str("list(");
            write_items(v.len(), names, out, |i, o| write_text(&v[i], o))?;
            out.push(')');
        }
    }
    Ok(())
}

/// A binary operator: its name, precedence (higher binds tighter, as in R's
/// grammar) and associativity.
struct Operator {
    name: String,
    precedence: u8,
    assoc: Side,
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Left,
    Right,
    Neither,
}

fn operator(name: &str) -> Option<Operator> {
    let (precedence, assoc) = match name {
        "~" => (1, Side::Left),
        "||" | "|" => (2, Side::Left),
        "&&" | "&" => (3, Side::Left),
        "==" | "!=" | "<" | ">" | "<=" | ">=" => (5, Side::Neither),
        "+" | "-" => (6, Side::Left),
        "*" | "/" => (7, Side::Left),
        n if n.len() >= 2
            && n.starts_with('%')
            && n.ends_with('%')
            && !n[1..n.len() - 1].contains('%') =>
        {
            (8, Side::Left)
        }
        ":" => (9, Side::Left),
        "^" => (11, Side::Right),
        _ => return None,
    };
    Some(Operator {
        name: name.to_string(),
        precedence,
        assoc,
    })
}

/// A call of a binary operator on two unnamed arguments, which is written
/// infix: `y ~ x1 + x2 + ...` in prefix form would nest deeper than R's
/// parser allows (50 levels of brackets).
fn infix(item: &Item) -> Option<(Operator, &Item, &Item)> {
    match &item.value {
        Value::Call(parts) if parts.len() == 3 && parts[1].0.is_none() && parts[2].0.is_none() => {
            let op = match &parts[0].1.value {
                Value::Symbol(name) => operator(name)?,
                _ => return None,
            };
            let empty = |x: &Item| x.value == Value::Missing;
            (!empty(&parts[1].1) && !empty(&parts[2].1)).then_some((op, &parts[1].1, &parts[2].1))
        }
        _ => None,
    }
}

/// An operand of `op`: infix when R reads it back as the same operand, and
/// in prefix form (a function call, which binds tightest) otherwise, so no
/// brackets are added that would change the call.
fn write_operand(item: &Item, op: &Operator, side: Side, out: &mut String) -> Result<()> {
    let Some((inner, _, _)) = infix(item) else {
        return write_text(item, out);
    };
    let fits = inner.precedence > op.precedence
        || (inner.precedence == op.precedence && op.assoc == side && inner.assoc == side);
    if fits {
        return write_text(item, out);
    }
    let Value::Call(parts) = &item.value else {
        return write_text(item, out);
    };
    push_name(&inner.name, out);
    out.push('(');
    write_text(&parts[1].1, out)?;
    out.push_str(", ");
    write_text(&parts[2].1, out)?;
    out.push(')');
    Ok(())
}

/// A constant's names, refusing any other attribute.
fn names_of(item: &Item) -> Result<Option<&[Option<String>]>> {
    let mut names = None;
    for (name, value) in &item.attributes {
        match (&item.value, name.as_str(), &value.value) {
            (Value::Call(_), _, _) => return Ok(None),
            (_, "names", Value::Str(v)) => names = Some(v.as_slice()),
            _ => {
                return Err(corrupt(format!(
                    "a constant in a call of the model data has the attribute {name}"
                )))
            }
        }
    }
    Ok(names)
}

fn write_vector<T>(
    v: &[T],
    names: Option<&[Option<String>]>,
    out: &mut String,
    each: impl Fn(&T, &mut String),
) {
    let scalar = v.len() == 1 && names.is_none();
    if !scalar {
        out.push_str("c(");
    }
    // Writing a constant cannot fail.
    let _ = write_items(v.len(), names, out, |i, o| {
        each(&v[i], o);
        Ok(())
    });
    if !scalar {
        out.push(')');
    }
}

/// `len` items separated by commas, each named where `names` gives a name,
/// as the arguments of `c()` or `list()`.
fn write_items(
    len: usize,
    names: Option<&[Option<String>]>,
    out: &mut String,
    mut each: impl FnMut(usize, &mut String) -> Result<()>,
) -> Result<()> {
    for i in 0..len {
        if i > 0 {
            out.push_str(", ");
        }
        if let Some(Some(name)) = names.map(|n| n.get(i).cloned().flatten()) {
            push_name(&name, out);
            out.push_str(" = ");
        }
        each(i, out)?;
    }
    Ok(())
}

/// A double as R reads it back exactly (Rust writes the shortest digits
/// that round-trip). R's `NA_real_` is a NaN whose low word is 1954.
fn real_text(x: f64) -> String {
    if x.is_nan() {
        return if x.to_bits() & 0xffff_ffff == 1954 {
            "NA_real_".into()
        } else {
            "NaN".into()
        };
    }
    if x.is_infinite() {
        return if x > 0.0 { "Inf".into() } else { "-Inf".into() };
    }
    let text = format!("{x:e}");
    if x.is_sign_negative() {
        format!("({text})")
    } else {
        text
    }
}

/// A name in backquotes, with backquotes and backslashes escaped.
fn push_name(name: &str, out: &mut String) {
    out.push('`');
    push_escaped(name, '`', out);
    out.push('`');
}

fn push_string(s: &str, out: &mut String) {
    out.push('"');
    push_escaped(s, '"', out);
    out.push('"');
}

fn push_escaped(s: &str, quote: char, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i32) -> [u8; 4] {
        v.to_be_bytes()
    }

    /// A version 2 serialization of the items given as raw words.
    fn serialization(words: &[i32]) -> Vec<u8> {
        let mut out = b"X\n".to_vec();
        for w in [2, 0x040200, 0x020300].iter().chain(words) {
            out.extend_from_slice(&int(*w));
        }
        out
    }

    fn err(bytes: &[u8]) -> String {
        read_serialized(bytes).unwrap_err().to_string()
    }

    #[test]
    fn reads_plain_vectors_and_lists() {
        // list(1L, c(a = 2.5)) with names on the double.
        let mut words = vec![VECSXP as i32, 2, INTSXP as i32, 1, 1];
        words.extend([REALSXP as i32 | HAS_ATTR, 1]);
        let bits = 2.5f64.to_bits();
        words.extend([(bits >> 32) as i32, bits as i32]);
        words.extend([LISTSXP as i32 | HAS_TAG, SYMSXP as i32, CHARSXP as i32, 5]);
        let mut bytes = serialization(&words);
        bytes.extend_from_slice(b"names");
        for w in [STRSXP as i32, 1, CHARSXP as i32, 1] {
            bytes.extend_from_slice(&int(w));
        }
        bytes.push(b'a');
        bytes.extend_from_slice(&int(NILVALUE_SXP as i32));
        let item = read_serialized(&bytes).unwrap();
        let Value::List(items) = item.value else {
            panic!("not a list")
        };
        assert_eq!(items[0].value, Value::Integer(vec![1]));
        assert_eq!(items[1].value, Value::Real(vec![2.5]));
        assert_eq!(items[1].attributes[0].0, "names");
        assert_eq!(
            items[1].attributes[0].1.value,
            Value::Str(vec![Some("a".into())])
        );
    }

    #[test]
    fn refuses_code_and_references_naming_them() {
        assert!(err(&serialization(&[5])).contains("promise"));
        assert!(err(&serialization(&[3])).contains("function"));
        assert!(err(&serialization(&[249])).contains("namespace"));
        assert!(err(&serialization(&[4])).contains("environment"));
        assert!(err(&serialization(&[SYMSXP as i32])).contains("name outside a formula"));
        assert!(err(&serialization(&[REALSXP as i32 | (S4_OBJECT << 12), 0])).contains("S4"));
    }

    #[test]
    fn bounds_depth_lengths_and_trailing_bytes() {
        let deep: Vec<i32> = (0..100_000).flat_map(|_| [VECSXP as i32, 1]).collect();
        assert!(err(&serialization(&deep)).contains("deeper than 64"));
        assert!(err(&serialization(&[REALSXP as i32, i32::MAX])).contains("more than they hold"));
        assert!(
            err(&serialization(&[REALSXP as i32, -1, 1 << 30, 0])).contains("more than they hold")
        );
        assert!(err(&serialization(&[NILVALUE_SXP as i32, 0])).contains("follow"));
        assert!(err(&serialization(&[INTSXP as i32])).contains("end early"));
    }

    #[test]
    fn refuses_attributes_r_would_refuse() {
        let strs =
            |v: &[&str]| Item::plain(Value::Str(v.iter().map(|s| Some(s.to_string())).collect()));
        let ints = |v: &[i32]| Item::plain(Value::Integer(v.to_vec()));
        let list = Value::List(vec![Item::plain(Value::Null), Item::plain(Value::Null)]);
        let check = |value: &Value, attrs: Vec<(&str, Item)>| {
            let attrs: Vec<(String, Item)> =
                attrs.into_iter().map(|(n, a)| (n.to_string(), a)).collect();
            check_attributes(value, &attrs)
        };
        assert!(check(&list, vec![("names", strs(&["a", "b"]))]).is_ok());
        assert!(check(&list, vec![("names", strs(&["a", "b", "c"]))]).is_err());
        assert!(check(&list, vec![("class", strs(&["factor"]))]).is_err());
        assert!(check(&Value::Integer(vec![1]), vec![("class", strs(&["factor"]))]).is_ok());
        assert!(check(
            &list,
            vec![
                ("dim", ints(&[2, 1])),
                (
                    "dimnames",
                    Item::plain(Value::List(vec![
                        strs(&["a", "b"]),
                        Item::plain(Value::Null)
                    ]))
                )
            ]
        )
        .is_ok());
        assert!(check(&list, vec![("dim", ints(&[5, 5]))]).is_err());
        assert!(check(&list, vec![("dim", ints(&[-1, -2]))]).is_err());
        assert!(check(&list, vec![("dimnames", Item::plain(Value::List(vec![])))]).is_err());
        assert!(check(&list, vec![("tsp", ints(&[1, 2, 1]))]).is_err());
        assert!(check(&list, vec![("levels", ints(&[1]))]).is_ok());
    }

    #[test]
    fn writes_calls_as_prefix_text() {
        let sym = |s: &str| Item::plain(Value::Symbol(s.into()));
        let call = |parts: Vec<Item>| {
            Item::plain(Value::Call(parts.into_iter().map(|p| (None, p)).collect()))
        };
        let f = call(vec![
            sym("~"),
            sym("y"),
            call(vec![
                sym("+"),
                sym("x`1"),
                Item::plain(Value::Real(vec![-0.5])),
            ]),
        ]);
        assert_eq!(call_text(&f).unwrap(), "`y` ~ `x\\`1` + (-5e-1)");
        // a - (b + c) and (a ^ b) ^ c keep their shape without brackets.
        let minus = call(vec![
            sym("-"),
            sym("a"),
            call(vec![sym("+"), sym("b"), sym("c")]),
        ]);
        assert_eq!(call_text(&minus).unwrap(), "`a` - `+`(`b`, `c`)");
        let power = call(vec![
            sym("^"),
            call(vec![sym("^"), sym("a"), sym("b")]),
            sym("c"),
        ]);
        assert_eq!(call_text(&power).unwrap(), "`^`(`a`, `b`) ^ `c`");
        let unary = call(vec![sym("-"), sym("a")]);
        assert_eq!(call_text(&unary).unwrap(), "`-`(`a`)");
        let strings = Item::plain(Value::Str(vec![Some("a\"b".into()), None]));
        assert_eq!(call_text(&strings).unwrap(), "c(\"a\\\"b\", NA_character_)");
    }

    #[test]
    fn inflate_bounds_its_output() {
        // zlib stream of 1000 zero bytes (from R's memCompress).
        let z = [
            0x78, 0x9c, 0x63, 0x60, 0x18, 0x05, 0xa3, 0x60, 0x14, 0x0c, 0x77, 0x00, 0x00, 0x03,
            0xe8, 0x00, 0x01,
        ];
        assert_eq!(inflate(&z, 1000, true).unwrap().len(), 1000);
        assert!(inflate(&z, 999, false)
            .unwrap_err()
            .to_string()
            .contains("more than 999"));
        assert!(inflate(&z, 1001, true)
            .unwrap_err()
            .to_string()
            .contains("not the 1001"));
        assert!(inflate(&z[..8], 1000, false).is_err());
        // A damaged checksum at the end of the stream.
        let mut damaged = z;
        damaged[16] ^= 1;
        assert!(inflate(&damaged, 1000, true).is_err());
        assert_eq!(inflate(&z, 1 << 20, false).unwrap().len(), 1000);
    }
}
