-- GET /Users?filter=userName eq "userN@example.com" for a random seeded user.
local token = os.getenv("TOKEN")
local users = tonumber(os.getenv("USERS"))
function request()
  local i = math.random(0, users - 1)
  local path = string.format("/scim/v2/Users?filter=userName%%20eq%%20%%22user%d%%40example.com%%22", i)
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
