# callgrind_self.awk: self cost (first event, Ir) per function of one callgrind dump, as
# "cost percent function [object]" lines, unsorted; the sum goes to stderr.
# Used instead of callgrind_annotate, which adds to a function the inclusive cost of a call still
# in flight when the counters were zeroed (the service thread's uv_run), i.e. cost from before.
# Format notes: the cost line after "calls=" is that call's inclusive cost, not self cost; names
# are compressed as "(id) name" on first use and "(id)" later, fn/cfn and ob/cob sharing ids.
function expand(s, table,    id, rest) {
  if (!match(s, /^\([0-9]+\)/)) return s
  id = substr(s, 1, RLENGTH)
  rest = substr(s, RLENGTH + 2)
  if (rest != "") table[id] = rest
  return (id in table) ? table[id] : id
}
/^positions:/ { npos = NF - 1; next }  # columns before the costs on a cost line
/^ob=/ { ob = expand(substr($0, 4), objects); next }
/^cob=/ { expand(substr($0, 5), objects); next }
/^cfn=/ { expand(substr($0, 5), names); next }
/^fn=/ {
  fn = expand(substr($0, 4), names)
  n = split(ob, parts, "/")
  fn = fn " [" parts[n] "]"
  next
}
/^calls=/ { skip = 1; next }
/^[0-9+*-]/ {
  if (skip) { skip = 0; next }
  cost = (NF > npos) ? $(npos + 1) : 0  # positions first, then the events (Ir is the first)
  self[fn] += cost
  total += cost
  next
}
END {
  for (f in self) if (self[f]) printf "%12d %5.1f%%  %s\n", self[f], 100 * self[f] / total, f
  printf "%12d total\n", total > "/dev/stderr"
}
