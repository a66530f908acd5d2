from dpdispatcher import Machine, Resources, Submission, Task

machine = Machine.load_from_json("machine.json")  # batch_type + context_type
resources = Resources.load_from_json("resources.json")
tasks = [
    Task(
        command="cat example.txt",
        task_work_path=f"dir{i}/",
        forward_files=["example.txt"],
        backward_files=["out.txt"],
        outlog="out.txt",
    )
    for i in range(1, 5)
]
Submission(
    work_base="work/", machine=machine, resources=resources, task_list=tasks, forward_common_files=["graph.pb"]
).run_submission()
