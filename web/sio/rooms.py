"""Socket.IO room names, in one place."""


def agent_room(org_id: str, agent_id: str) -> str:
    return f"agent:{org_id}:{agent_id}"


def supervisors_room(org_id: str) -> str:
    return f"sup:{org_id}"


def chat_room(org_id: str, interaction_id: str) -> str:
    return f"chat:{org_id}:{interaction_id}"
