//! Reading back a saved [`OptimizerState`](crate::OptimizerState): its
//! buffers, by name, into slots, and the checks that a damaged state fails.

use super::slots::Slot;
use super::UpdateRule;
use crate::OptimizerState;

/// The most steps a loaded state may claim: 2^48, nine years at a million
/// steps a second. Beyond it the count is damage, not history.
pub const MAX_STEP: u64 = 1 << 48;

/// Every buffer value finite, and those of [`UpdateRule::non_negative_buffers`]
/// at least 0: what a state written by `state` always satisfies. The `Err`
/// names the buffer, the index and the value.
pub(super) fn check_buffer_values(rule: &impl UpdateRule, slots: &[Slot]) -> Result<(), String> {
    let kind = rule.kind();
    let non_negative = rule.non_negative_buffers();
    for slot in slots {
        for (b, buffer) in rule.buffer_names().iter().enumerate() {
            let values = &slot.buffers[b * slot.len..(b + 1) * slot.len];
            let must_be_non_negative = non_negative.contains(buffer);
            let bad = values
                .iter()
                .position(|v| !v.is_finite() || (must_be_non_negative && *v < 0.0));
            if let Some(index) = bad {
                let value = values[index];
                let rule_broken = if value.is_finite() {
                    "it is a sum or average of squares, never negative"
                } else {
                    "every value must be finite"
                };
                return Err(format!(
                    "buffer '{kind}.{buffer}.{}' holds {value} at index {index}: {rule_broken}; \
                     the state is damaged",
                    slot.name
                ));
            }
        }
    }
    Ok(())
}

/// Rebuilds the slots from a state's `"{kind}.{buffer}.{parameter}"` buffers,
/// in whatever order they come; every parameter needs every buffer, all of
/// one length. The `Err` is the problem, in words.
pub(super) fn slots_from_buffers(
    kind: &str,
    buffer_names: &[&str],
    state: &OptimizerState,
) -> Result<Vec<Slot>, String> {
    let mut slots: Vec<Slot> = Vec::new();
    let mut filled: Vec<Vec<bool>> = Vec::new();
    for (full_name, values) in &state.buffers {
        let split = (full_name.strip_prefix(kind))
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.split_once('.'));
        let b = split.and_then(|(buffer, _)| buffer_names.iter().position(|n| *n == buffer));
        let (Some((_, param)), Some(b)) = (split, b) else {
            return Err(format!(
                "buffer '{full_name}' is not named '{kind}.BUFFER.PARAMETER' with BUFFER one of [{}]",
                buffer_names.join(", ")
            ));
        };
        let s = match slots.iter().position(|s| s.name == param) {
            Some(s) => s,
            None => {
                slots.push(Slot {
                    name: param.to_string(),
                    len: values.len(),
                    buffers: vec![0.0; buffer_names.len() * values.len()],
                });
                filled.push(vec![false; buffer_names.len()]);
                slots.len() - 1
            }
        };
        let slot = &mut slots[s];
        if values.len() != slot.len {
            return Err(format!(
                "buffer '{full_name}' has {} values, other buffers of '{param}' have {}",
                values.len(),
                slot.len
            ));
        }
        if filled[s][b] {
            return Err(format!("buffer '{full_name}' appears twice"));
        }
        filled[s][b] = true;
        slot.buffers[b * slot.len..(b + 1) * slot.len].copy_from_slice(values);
    }
    for (slot, filled) in slots.iter().zip(&filled) {
        if let Some(b) = filled.iter().position(|f| !f) {
            return Err(format!(
                "buffer '{kind}.{}.{}' is missing",
                buffer_names[b], slot.name
            ));
        }
    }
    if slots.is_empty() && !buffer_names.is_empty() && state.step > 0 {
        return Err(format!(
            "it has taken {} steps but holds no buffers ({} expected per parameter)",
            state.step,
            buffer_names.join(", ")
        ));
    }
    Ok(slots)
}
