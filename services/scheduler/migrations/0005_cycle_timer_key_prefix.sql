-- A subscription's cycle timers are cleared by key prefix (`<subscription>@`): an index in byte order serves that.
CREATE INDEX timers_kind_key_bytes ON timers (kind, key COLLATE "C");
