/** Stream reset codes: HTTP/2's values, so both multiplexers mean the same thing by each. */
export const ResetCode = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  REFUSED_STREAM: 7,
  CANCEL: 8,
} as const;
