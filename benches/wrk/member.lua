-- PATCH one group: add one member (a random user not seeded into it).
local token = os.getenv("TOKEN")
local group = os.getenv("GROUP")
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
function request()
  local id = ids[math.random(1, #ids)]
  local body = string.format('{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"%s"}]}]}', id)
  return wrk.format("PATCH", "/scim/v2/Groups/" .. group, {["Content-Type"] = "application/scim+json", ["Authorization"] = "Bearer " .. token}, body)
end
