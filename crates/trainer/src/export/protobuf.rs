//! The smallest protobuf writer ONNX needs: varints, 32-bit floats and
//! length-delimited fields (strings, bytes, nested messages). See
//! <https://protobuf.dev/programming-guides/encoding/>: a field is a key
//! `field_number << 3 | wire_type`, then its value; wire type 0 is a
//! varint, 2 a length (varint) then that many bytes, 5 four little-endian
//! bytes. Fields may come in any order, and a repeated field is the same
//! key written again for every element (the unpacked form, which every
//! reader accepts).

/// One message being written; nest it into another with [`Message::message`].
#[derive(Clone, Debug, Default)]
pub struct Message {
    bytes: Vec<u8>,
}

const VARINT: u64 = 0;
const LENGTH_DELIMITED: u64 = 2;
const FIXED32: u64 = 5;

impl Message {
    pub fn new() -> Message {
        Message::default()
    }

    /// The encoded message.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn key(&mut self, field: u32, wire_type: u64) {
        self.raw_varint((u64::from(field) << 3) | wire_type);
    }

    /// Seven bits a byte, least significant first, the high bit set on every
    /// byte but the last.
    fn raw_varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.bytes.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.bytes.push(value as u8);
    }

    /// An `int32`, `int64` or enum field: negative numbers as their 64-bit
    /// two's complement (ten bytes), as protobuf writes `int64`.
    pub fn int(&mut self, field: u32, value: i64) -> &mut Message {
        self.key(field, VARINT);
        self.raw_varint(value as u64);
        self
    }

    /// A `float` field.
    pub fn float(&mut self, field: u32, value: f32) -> &mut Message {
        self.key(field, FIXED32);
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A `bytes` field.
    pub fn bytes(&mut self, field: u32, value: &[u8]) -> &mut Message {
        self.key(field, LENGTH_DELIMITED);
        self.raw_varint(value.len() as u64);
        self.bytes.extend_from_slice(value);
        self
    }

    /// A `string` field (UTF-8).
    pub fn string(&mut self, field: u32, value: &str) -> &mut Message {
        self.bytes(field, value.as_bytes())
    }

    /// A nested message.
    pub fn message(&mut self, field: u32, value: &Message) -> &mut Message {
        self.bytes(field, &value.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of the encoding guide: 150 in field 1 is `08 96 01`,
    /// "testing" in field 2 is `12 07 74 65 73 74 69 6e 67`.
    #[test]
    fn encodes_the_guides_examples() {
        let mut m = Message::new();
        m.int(1, 150);
        assert_eq!(m.clone().into_bytes(), [0x08, 0x96, 0x01]);
        let mut s = Message::new();
        s.string(2, "testing");
        assert_eq!(
            s.clone().into_bytes(),
            [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]
        );
        let mut outer = Message::new();
        outer.message(3, &m);
        assert_eq!(outer.into_bytes(), [0x1a, 0x03, 0x08, 0x96, 0x01]);
    }

    #[test]
    fn negative_ints_take_ten_bytes_and_floats_four() {
        let mut m = Message::new();
        m.int(1, -1);
        let bytes = m.into_bytes();
        assert_eq!(bytes.len(), 11);
        assert_eq!(bytes[10], 0x01);
        let mut f = Message::new();
        f.float(2, 1.0);
        assert_eq!(f.into_bytes(), [0x15, 0x00, 0x00, 0x80, 0x3f]);
    }
}
