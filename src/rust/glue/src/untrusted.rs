//! A model file's payload as R values, read by the core's restricted reader
//! (see `rustnn_core::untrusted`) instead of R's `unserialize()`: nothing in
//! the file is evaluated, forced or loaded, and only plain vectors and lists
//! are built. A call (the formula terms of old files) is never built as an
//! R call: it comes back as its text, to be parsed and checked on the R side.

use crate::convert::{core_err, to_r};
use extendr_api::prelude::*;
use extendr_api::{Error, Result};
use rustnn_core::untrusted::{call_text, inflate, read_serialized, Item, Value};

/// The R value a zlib-compressed serialization holds. `limit` bounds the
/// decompressed size (with `exact`, it must be that size); errors come back
/// as values (see `to_r`).
/// @noRd
#[extendr]
fn rn_read_model_data(z: Raw, limit: f64, exact: bool) -> Robj {
    to_r(|| {
        if !(limit.is_finite() && limit >= 0.0 && limit <= usize::MAX as f64) {
            return Err(Error::Other(format!("invalid size limit {limit}")));
        }
        let bytes = inflate(z.as_slice(), limit as usize, exact).map_err(core_err)?;
        let item = read_serialized(&bytes).map_err(core_err)?;
        drop(bytes);
        to_robj(&item)
    })
}

/// An item as an R value. A call becomes `list(text, attributes)` of class
/// `"rustnn_language"`; attributes are set through `Rf_setAttrib`, whose
/// checks (a `dim` that does not fit, a `factor` class on a list) come back
/// as errors rather than building an object R could not make.
fn to_robj(item: &Item) -> Result<Robj> {
    let mut robj: Robj = match &item.value {
        Value::Null => return Ok(().into()),
        Value::Logical(v) => Logicals::from_values(v.iter().map(|&x| Rbool::new(x))).into(),
        Value::Integer(v) => Integers::from_values(v.iter().map(|&x| Rint::from(x))).into(),
        Value::Real(v) => Doubles::from_values(v.iter().map(|&x| Rfloat::from(x))).into(),
        Value::Str(v) if v.iter().flatten().any(|s| s.len() >= i32::MAX as usize) => {
            return Err(Error::Other(
                "the model data hold a string too long for R".into(),
            ))
        }
        Value::Str(v) => Strings::from_values(v.iter().map(|s| match s {
            Some(s) => Rstr::from(s.as_str()),
            None => Rstr::na(),
        }))
        .into(),
        Value::List(v) => {
            List::from_values(v.iter().map(to_robj).collect::<Result<Vec<_>>>()?).into()
        }
        Value::Call(_) => return language(item),
        Value::Symbol(_) | Value::Missing => {
            return Err(Error::Other("a name outside a call".into()))
        }
    };
    for (name, value) in &item.attributes {
        robj.set_attrib(name.as_str(), to_robj(value)?)?;
    }
    Ok(robj)
}

/// The longest formula text the reader hands to R.
const MAX_CALL_TEXT: usize = 1 << 24;

fn language(item: &Item) -> Result<Robj> {
    let bare = Item {
        value: item.value.clone(),
        attributes: Vec::new(),
    };
    let text = call_text(&bare).map_err(core_err)?;
    // R makes no string this long without an error, which must not be
    // raised inside Rust; no formula comes near it.
    if text.len() > MAX_CALL_TEXT {
        return Err(Error::Other(format!(
            "the model data hold a formula of more than {MAX_CALL_TEXT} characters"
        )));
    }
    let (names, values): (Vec<&str>, Vec<Robj>) = item
        .attributes
        .iter()
        .map(|(name, value)| Ok((name.as_str(), to_robj(value)?)))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let attributes = List::from_names_and_values(names, values)?;
    let mut out: Robj = list!(text = text, attributes = attributes).into();
    out.set_class(["rustnn_language"])?;
    Ok(out)
}

extendr_module! {
    mod untrusted;
    fn rn_read_model_data;
}
