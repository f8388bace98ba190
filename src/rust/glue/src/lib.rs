use extendr_api::prelude::*;
