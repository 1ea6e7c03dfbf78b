//! Which buffers belong to which parameter: made on the first step, checked
//! on every later one (same names and lengths, in the same order), and put
//! in parameter order after a saved state was loaded.

use super::{RuleOptimizer, UpdateRule};
use crate::{OptimError, Param};

/// One parameter's name, length and buffers (`buffer_names().len() * len` values).
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub name: String,
    pub len: usize,
    pub buffers: Vec<f32>,
}

impl<R: UpdateRule> RuleOptimizer<R> {
    /// Creates the slots on the first step; afterwards checks that `params`
    /// are the same names and lengths, in the same order.
    pub(super) fn match_slots(&mut self, params: &[Param<'_>]) -> Result<(), OptimError> {
        if self.slots.is_empty() && !self.slots_need_ordering {
            // Names key the state, so two parameters cannot share one.
            for (index, p) in params.iter().enumerate() {
                if params[..index].iter().any(|q| q.name == p.name) {
                    return Err(OptimError::DuplicateName {
                        name: p.name.to_string(),
                    });
                }
            }
            let buffer_count = self.rule.buffer_names().len();
            self.slots = params
                .iter()
                .map(|p| Slot {
                    name: p.name.to_string(),
                    len: p.value.len(),
                    buffers: vec![0.0; buffer_count * p.value.len()],
                })
                .collect();
        } else if self.slots_need_ordering {
            self.order_loaded_slots(params)?;
        }
        if self.grad_scratch.is_empty() {
            let longest = self.slots.iter().map(|s| s.len).max().unwrap_or(0);
            self.grad_scratch = vec![0.0; longest];
        }

        let count = params.len().max(self.slots.len());
        for index in 0..count {
            let (slot, param) = (self.slots.get(index), params.get(index));
            let same = match (slot, param) {
                (Some(s), Some(p)) => s.name == p.name && s.len == p.value.len(),
                _ => false,
            };
            if !same {
                return Err(OptimError::ParamsChanged {
                    index,
                    expected: slot.map_or("no parameter".into(), |s| describe(&s.name, s.len)),
                    found: param.map_or("no parameter".into(), |p| describe(p.name, p.value.len())),
                });
            }
        }
        Ok(())
    }

    /// Reorders slots loaded from a state into the order of `params`.
    fn order_loaded_slots(&mut self, params: &[Param<'_>]) -> Result<(), OptimError> {
        let mut order = Vec::with_capacity(params.len());
        for (index, p) in params.iter().enumerate() {
            match self.slots.iter().position(|s| s.name == p.name) {
                Some(found) if order.contains(&found) => {
                    return Err(OptimError::DuplicateName {
                        name: p.name.to_string(),
                    })
                }
                Some(found) => order.push(found),
                None => {
                    return Err(OptimError::ParamsChanged {
                        index,
                        expected: "a parameter the loaded state has buffers for".into(),
                        found: describe(p.name, p.value.len()),
                    })
                }
            }
        }
        if let Some(extra) = (0..self.slots.len()).find(|i| !order.contains(i)) {
            let s = &self.slots[extra];
            return Err(OptimError::ParamsChanged {
                index: params.len(),
                expected: describe(&s.name, s.len),
                found: "no parameter of that name".into(),
            });
        }
        let mut slots: Vec<Option<Slot>> = self.slots.drain(..).map(Some).collect();
        self.slots = order.iter().map(|&i| slots[i].take().unwrap()).collect();
        self.slots_need_ordering = false;
        Ok(())
    }
}

fn describe(name: &str, len: usize) -> String {
    format!("'{name}' ({len} values)")
}
