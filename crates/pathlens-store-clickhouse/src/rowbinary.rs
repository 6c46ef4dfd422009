//! ClickHouse's `RowBinary` format, the only data format this store speaks.
//!
//! Binary in both directions, so strings need no escaping and floats travel
//! bit for bit (a text format would parse `play_time_sum` back with
//! ClickHouse's fast float parser, which may differ in the last digit).
//! Integers and floats are little-endian; a `String` is its length as an
//! unsigned LEB128 number followed by its bytes; a `Nullable(T)` is one
//! byte, 1 for NULL, or 0 followed by the `T`; a `Date` is a `UInt16` of
//! days since 1970-01-01.

/// Builds a `RowBinary` body.
#[derive(Debug, Default)]
pub struct Writer {
    buffer: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    pub fn with_capacity(bytes: usize) -> Writer {
        Writer {
            buffer: Vec::with_capacity(bytes),
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buffer
    }

    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    pub fn u8(&mut self, value: u8) {
        self.buffer.push(value);
    }

    pub fn u32(&mut self, value: u32) {
        self.buffer.extend_from_slice(&value.to_le_bytes());
    }

    pub fn u64(&mut self, value: u64) {
        self.buffer.extend_from_slice(&value.to_le_bytes());
    }

    pub fn i64(&mut self, value: i64) {
        self.buffer.extend_from_slice(&value.to_le_bytes());
    }

    pub fn f64(&mut self, value: f64) {
        self.buffer.extend_from_slice(&value.to_le_bytes());
    }

    pub fn string(&mut self, value: &str) {
        let mut length = value.len() as u64;
        loop {
            let byte = (length & 0x7f) as u8;
            length >>= 7;
            if length == 0 {
                self.buffer.push(byte);
                break;
            }
            self.buffer.push(byte | 0x80);
        }
        self.buffer.extend_from_slice(value.as_bytes());
    }

    pub fn opt_string(&mut self, value: Option<&str>) {
        match value {
            Some(text) => {
                self.u8(0);
                self.string(text);
            }
            None => self.u8(1),
        }
    }

    pub fn opt_f64(&mut self, value: Option<f64>) {
        match value {
            Some(number) => {
                self.u8(0);
                self.f64(number);
            }
            None => self.u8(1),
        }
    }

    pub fn opt_i64(&mut self, value: Option<i64>) {
        match value {
            Some(number) => {
                self.u8(0);
                self.i64(number);
            }
            None => self.u8(1),
        }
    }

    pub fn opt_u8(&mut self, value: Option<u8>) {
        match value {
            Some(number) => {
                self.u8(0);
                self.u8(number);
            }
            None => self.u8(1),
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {reason}")]
pub struct DecodeError {
    pub offset: usize,
    pub reason: String,
}

pub type DecodeResult<T> = Result<T, DecodeError>;

/// Where `RowBinary` values are read from: a body in memory ([`Reader`])
/// or one still arriving ([`StreamReader`]), so rows are decoded while
/// ClickHouse is still sending the rest.
pub trait Source {
    /// Fills `out` with the next bytes.
    ///
    /// # Errors
    /// When the input ends first or cannot be read.
    fn take_into(&mut self, out: &mut [u8]) -> DecodeResult<()>;

    /// Whether the input has ended.
    fn is_at_end(&mut self) -> bool;

    /// Bytes read so far, for error messages.
    fn position(&self) -> usize;

    /// An error at the current position.
    fn error<T>(&self, reason: impl Into<String>) -> DecodeResult<T>
    where
        Self: Sized,
    {
        Err(DecodeError {
            offset: self.position(),
            reason: reason.into(),
        })
    }

    fn array<const N: usize>(&mut self) -> DecodeResult<[u8; N]>
    where
        Self: Sized,
    {
        let mut array = [0u8; N];
        self.take_into(&mut array)?;
        Ok(array)
    }

    fn u8(&mut self) -> DecodeResult<u8>
    where
        Self: Sized,
    {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> DecodeResult<u16>
    where
        Self: Sized,
    {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> DecodeResult<u32>
    where
        Self: Sized,
    {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> DecodeResult<u64>
    where
        Self: Sized,
    {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> DecodeResult<i64>
    where
        Self: Sized,
    {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn f64(&mut self) -> DecodeResult<f64>
    where
        Self: Sized,
    {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A LEB128 length (of a string or an array).
    fn varint(&mut self) -> DecodeResult<u64>
    where
        Self: Sized,
    {
        let mut length: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = self.u8()?;
            if shift > 63 {
                return self.error("length does not fit 64 bits");
            }
            length |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(length);
            }
            shift += 7;
        }
    }

    fn string(&mut self) -> DecodeResult<String>
    where
        Self: Sized,
    {
        let length = self.varint()?;
        if length > MAX_STRING {
            return self.error(format!("string of {length} bytes"));
        }
        let start = self.position();
        let mut bytes = vec![0u8; length as usize];
        self.take_into(&mut bytes)?;
        String::from_utf8(bytes).map_err(|_| DecodeError {
            offset: start,
            reason: "string is not UTF-8".into(),
        })
    }

    fn null(&mut self) -> DecodeResult<bool>
    where
        Self: Sized,
    {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => self.error(format!("Nullable marker {other}")),
        }
    }

    fn opt_string(&mut self) -> DecodeResult<Option<String>>
    where
        Self: Sized,
    {
        if self.null()? {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    fn opt_f64(&mut self) -> DecodeResult<Option<f64>>
    where
        Self: Sized,
    {
        if self.null()? {
            Ok(None)
        } else {
            self.f64().map(Some)
        }
    }

    fn opt_i64(&mut self) -> DecodeResult<Option<i64>>
    where
        Self: Sized,
    {
        if self.null()? {
            Ok(None)
        } else {
            self.i64().map(Some)
        }
    }

    fn opt_u8(&mut self) -> DecodeResult<Option<u8>>
    where
        Self: Sized,
    {
        if self.null()? {
            Ok(None)
        } else {
            self.u8().map(Some)
        }
    }
}

/// The longest string accepted (a corrupt length must not allocate
/// gigabytes).
const MAX_STRING: u64 = 256 << 20;

/// Reads a `RowBinary` body in memory.
pub struct Reader<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, position: 0 }
    }
}

impl Source for Reader<'_> {
    fn take_into(&mut self, out: &mut [u8]) -> DecodeResult<()> {
        match self.data.get(self.position..self.position + out.len()) {
            Some(bytes) => {
                out.copy_from_slice(bytes);
                self.position += out.len();
                Ok(())
            }
            None => self.error(format!(
                "{} bytes wanted, {} left",
                out.len(),
                self.data.len() - self.position
            )),
        }
    }

    fn is_at_end(&mut self) -> bool {
        self.position >= self.data.len()
    }

    fn position(&self) -> usize {
        self.position
    }
}

/// Reads a `RowBinary` body as it arrives.
pub struct StreamReader<R> {
    input: R,
    position: usize,
}

impl<R: std::io::BufRead> StreamReader<R> {
    pub fn new(input: R) -> StreamReader<R> {
        StreamReader { input, position: 0 }
    }
}

impl<R: std::io::BufRead> Source for StreamReader<R> {
    fn take_into(&mut self, out: &mut [u8]) -> DecodeResult<()> {
        match self.input.read_exact(out) {
            Ok(()) => {
                self.position += out.len();
                Ok(())
            }
            Err(error) => self.error(format!("{} bytes wanted: {error}", out.len())),
        }
    }

    fn is_at_end(&mut self) -> bool {
        // A read error is not the end: the next read reports it.
        self.input.fill_buf().is_ok_and(<[u8]>::is_empty)
    }

    fn position(&self) -> usize {
        self.position
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let long = "é".repeat(200);
        let mut writer = Writer::new();
        writer.u8(7);
        writer.u32(70_000);
        writer.u64(u64::MAX - 1);
        writer.i64(-5);
        writer.f64(0.1 + 0.2);
        writer.string("");
        writer.string(&long);
        writer.opt_string(None);
        writer.opt_string(Some("a\tb\n'\\"));
        writer.opt_f64(Some(12.5));
        writer.opt_f64(None);
        writer.opt_i64(Some(i64::MIN));
        writer.opt_u8(Some(75));
        let bytes = writer.into_bytes();
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u8().unwrap(), 7);
        assert_eq!(reader.u32().unwrap(), 70_000);
        assert_eq!(reader.u64().unwrap(), u64::MAX - 1);
        assert_eq!(reader.i64().unwrap(), -5);
        assert_eq!(reader.f64().unwrap().to_bits(), (0.1f64 + 0.2).to_bits());
        assert_eq!(reader.string().unwrap(), "");
        assert_eq!(reader.string().unwrap(), long);
        assert_eq!(reader.opt_string().unwrap(), None);
        assert_eq!(reader.opt_string().unwrap().as_deref(), Some("a\tb\n'\\"));
        assert_eq!(reader.opt_f64().unwrap(), Some(12.5));
        assert_eq!(reader.opt_f64().unwrap(), None);
        assert_eq!(reader.opt_i64().unwrap(), Some(i64::MIN));
        assert_eq!(reader.opt_u8().unwrap(), Some(75));
        assert!(reader.is_at_end());
    }

    #[test]
    fn string_lengths_are_leb128() {
        let mut writer = Writer::new();
        writer.string(&"x".repeat(300));
        let bytes = writer.into_bytes();
        assert_eq!(&bytes[..2], &[0xac, 0x02]);
    }

    #[test]
    fn a_stream_reads_like_a_slice() {
        let mut writer = Writer::new();
        writer.string("hello");
        writer.opt_f64(Some(2.5));
        let bytes = writer.into_bytes();
        let mut stream = StreamReader::new(std::io::BufReader::with_capacity(3, &bytes[..]));
        assert_eq!(stream.string().unwrap(), "hello");
        assert_eq!(stream.opt_f64().unwrap(), Some(2.5));
        assert!(stream.is_at_end());
        let mut cut = StreamReader::new(&bytes[..4]);
        assert!(cut.string().is_err());
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut writer = Writer::new();
        writer.string("hello");
        let bytes = writer.into_bytes();
        let mut reader = Reader::new(&bytes[..3]);
        let error = reader.string().unwrap_err();
        assert!(error.to_string().contains("wanted"), "{error}");
        let mut bad_null = Reader::new(&[9]);
        assert!(bad_null.opt_u8().is_err());
    }
}
