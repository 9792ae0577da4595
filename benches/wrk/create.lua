-- POST /Users with a new userName and email on every request.
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local n = 0
local token = os.getenv("TOKEN")
function request()
  n = n + 1
  local name = string.format("w%d_%d@example.com", tid, n)
  local body = string.format('{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s","emails":[{"value":"%s","type":"work","primary":true}]}', name, name)
  return wrk.format("POST", "/scim/v2/Users", {["Content-Type"] = "application/scim+json", ["Authorization"] = "Bearer " .. token}, body)
end
